"""Bundled workloads. Importing this package registers each network in codesign's registry."""

from codesign.workloads import (  # noqa: F401
    autoencoder,
    digits,
    dscnn,
    imagenet,
    mnist1d,
    mobilenet,
    resnet8,
    transformers,
)
