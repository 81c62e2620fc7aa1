"""EfficientNet-Lite as the base of a Keras 3 functional model (NHWC), from `EfficientNetLiteSpec`.

The same network as `torch_impl.models.EfficientNetLite`, layer for layer, each layer named by the torch module it
mirrors with "-" for "." (`_blocks-3-_depthwise_conv`; see `keras_impl.models`). Keras' padding="same"
is TF's 'SAME' (the extra pixel of a strided conv bottom/right), the padding the network was trained
with, on every Keras backend; the torch side writes that padding out explicitly.
"""
from __future__ import annotations

import keras
from keras import layers

from keras_impl.initializers import conv_init
from parity.spec.archs import EfficientNetLiteSpec, MBConvBlock


def _name(module: str) -> str:
    return module.replace(".", "-")


def _conv(x, filters: int, kernel: int, stride: int, name: str):
    return layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                         kernel_initializer=conv_init(), name=_name(name))(x)


def _relu6(x, name: str):
    return layers.ReLU(max_value=6.0, name=_name(name))(x)


def _mbconv(x, block: MBConvBlock, bn):
    p = f"_blocks.{block.index}"
    out = x
    if block.expand != 1:
        out = _relu6(bn(_conv(out, block.mid, 1, 1, f"{p}._expand_conv"), f"{p}._bn0"), f"{p}.relu0")
    out = layers.DepthwiseConv2D(block.kernel, strides=block.stride, padding="same", use_bias=False,
                                 depthwise_initializer=conv_init(), name=_name(f"{p}._depthwise_conv"))(out)
    out = _relu6(bn(out, f"{p}._bn1"), f"{p}.relu1")
    out = bn(_conv(out, block.cout, 1, 1, f"{p}._project_conv"), f"{p}._bn2")
    # the block's output carries the block's own name, like torch's module output
    return layers.Add(name=_name(p))([out, x]) if block.skip else layers.Identity(name=_name(p))(out)


def build_base(spec: EfficientNetLiteSpec, image_size: int, bn) -> keras.Model:
    """Stem, MBConv blocks, head conv, global average pool: the features the `fc` head reads."""
    inputs = keras.Input((image_size, image_size, 3), name="base_input")
    x = _relu6(bn(_conv(inputs, spec.stem_width, 3, 2, "_conv_stem"), "_bn0"), "stem_relu")
    for block in spec.blocks():
        x = _mbconv(x, block, bn)
    x = _relu6(bn(_conv(x, spec.head_width, 1, 1, "_conv_head"), "_bn1"), "head_relu")
    features = layers.GlobalAveragePooling2D(name="avgpool")(x)
    return keras.Model(inputs, features, name="base")
