"""Layer classes Keras 3 lacks, as source that `cnndsl export --to keras` writes once into the
generated file (a kind's `KerasCode.helpers` names them). Each computes what the kind's ONNX
emission does, with keras.ops only, so that it runs on every Keras backend; index tables are
computed with numpy from the static shapes, in float32 where ONNX Runtime computes in float32.

Nothing here imports keras: the classes are text.
"""

from __future__ import annotations

SPATIAL_PAD = '''class SpatialPad(keras.layers.Layer):
    """Pads the spatial axes of a channels-last tensor, (begin, end) per axis: with a constant, or
    by reflecting, replicating or wrapping around the edges (PyTorch's modes)."""

    def __init__(self, padding, mode="constant", value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.padding, self.mode, self.value = tuple(tuple(pair) for pair in padding), mode, value

    def call(self, x):
        if self.mode == "constant":
            return keras.ops.pad(x, ((0, 0), *self.padding, (0, 0)), constant_values=self.value)
        for axis, (begin, end) in enumerate(self.padding, start=1):
            size = x.shape[axis]
            positions = np.arange(-begin, size + end)
            if self.mode == "reflect":
                positions = np.abs(positions)
                positions = np.where(positions >= size, 2 * (size - 1) - positions, positions)
            elif self.mode == "replicate":
                positions = np.clip(positions, 0, size - 1)
            else:  # circular
                positions = positions % size
            x = keras.ops.take(x, positions, axis=axis)
        return x

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "mode": self.mode, "value": self.value}
'''

SUBSAMPLE = '''class Subsample(keras.layers.Layer):
    """Every `strides`-th position of each spatial axis, the first included: a strided dilated
    convolution is the dilated one at stride 1, subsampled (Keras refuses both at once)."""

    def __init__(self, strides, **kwargs):
        super().__init__(**kwargs)
        self.strides = tuple(strides)

    def call(self, x):
        for axis, stride in enumerate(self.strides, start=1):
            x = keras.ops.take(x, np.arange(0, x.shape[axis], stride), axis=axis)
        return x

    def get_config(self):
        return {**super().get_config(), "strides": self.strides}
'''

WINDOW_MEAN = '''class WindowMean(keras.layers.Layer):
    """Average pooling after zero `padding` ((begin, end) per axis) that divides each window's sum
    by the values it covers of the input and of the `counted` padding only, as ONNX Runtime and
    PyTorch do in ceil mode and with exclude_pad (count_include_pad=False)."""

    def __init__(self, pool_size, strides, padding, counted, **kwargs):
        super().__init__(**kwargs)
        self.pool_size, self.strides = tuple(pool_size), tuple(strides)
        self.padding, self.counted = tuple(tuple(p) for p in padding), tuple(tuple(p) for p in counted)

    def call(self, x):
        counted = np.ones((1, *x.shape[1:-1], 1), dtype="float32")
        counted = np.pad(counted, ((0, 0), *self.counted, (0, 0)), constant_values=1.0)
        rest = [(b - cb, e - ce) for (b, e), (cb, ce) in zip(self.padding, self.counted, strict=True)]
        counted = np.pad(counted, ((0, 0), *rest, (0, 0)))
        padded = keras.ops.pad(x, ((0, 0), *self.padding, (0, 0)))
        sums = keras.ops.average_pool(padded, self.pool_size, self.strides, "valid")
        counts = keras.ops.average_pool(keras.ops.convert_to_tensor(counted), self.pool_size, self.strides, "valid")
        return sums / counts

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
            "counted": self.counted,
        }
'''

GROUPED_CONV_TRANSPOSE = '''class GroupedConvTranspose(keras.layers.Layer):
    """A transposed convolution in channel groups, with `output_padding` rows at the end of each
    axis (which only the bias reaches): Keras's ConvNDTranspose takes no groups, nor an output
    padding of the stride or more. The kernel is (*window, filters / groups, input channels)."""

    def __init__(self, filters, kernel_size, strides, dilation_rate, output_padding, groups, **kwargs):
        use_bias, activation = kwargs.pop("use_bias", True), kwargs.pop("activation", None)
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides = filters, tuple(kernel_size), tuple(strides)
        self.dilation_rate, self.output_padding = tuple(dilation_rate), tuple(output_padding)
        self.groups, self.use_bias, self.activation = groups, use_bias, keras.activations.get(activation)

    def build(self, shape):
        self.kernel = self.add_weight(shape=(*self.kernel_size, self.filters // self.groups, shape[-1]), name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias") if self.use_bias else None

    def call(self, x):
        inputs, outputs = x.shape[-1] // self.groups, []
        for group in range(self.groups):
            part = slice(group * inputs, (group + 1) * inputs)
            kernel = self.kernel[..., part]
            outputs.append(
                keras.ops.conv_transpose(x[..., part], kernel, self.strides, "valid", 0, None, self.dilation_rate)
            )
        y = keras.ops.concatenate(outputs, axis=-1)
        y = keras.ops.pad(y, ((0, 0), *((0, extra) for extra in self.output_padding), (0, 0)))
        return self.activation(y + self.bias if self.use_bias else y)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "dilation_rate": self.dilation_rate,
            "output_padding": self.output_padding,
            "groups": self.groups,
            "use_bias": self.use_bias,
            "activation": keras.activations.serialize(self.activation),
        }
'''

DROP_PATH = '''class DropPath(keras.layers.Layer):
    """Stochastic depth: while training, each sample is zeroed with probability `rate` and the rest
    scaled by 1 / (1 - rate); at inference, the identity."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed = rate, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        if not training or self.rate == 0:
            return x
        keep = 1.0 - self.rate
        shape = (keras.ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
        kept = keras.ops.floor(keep + keras.random.uniform(shape, seed=self.seed_generator))
        return x / keep * kept

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
'''

LAYER_SCALE = '''class LayerScale(keras.layers.Layer):
    """A learnt factor per channel (ConvNeXt), initially `value`."""

    def __init__(self, value, **kwargs):
        super().__init__(**kwargs)
        self.value = value

    def build(self, shape):
        initializer = keras.initializers.Constant(self.value)
        self.gamma = self.add_weight(shape=(shape[-1],), initializer=initializer, name="gamma")

    def call(self, x):
        return x * self.gamma

    def get_config(self):
        return {**super().get_config(), "value": self.value}
'''

CHANNEL_SHUFFLE = '''class ChannelShuffle(keras.layers.Layer):
    """ShuffleNet's channel shuffle on the last axis: channel g * (C / groups) + j moves to j * groups + g."""

    def __init__(self, groups, **kwargs):
        super().__init__(**kwargs)
        self.groups = groups

    def call(self, x):
        *spatial, channels = x.shape[1:]
        grouped = keras.ops.reshape(x, (-1, *spatial, self.groups, channels // self.groups))
        return keras.ops.reshape(keras.ops.swapaxes(grouped, -1, -2), (-1, *spatial, channels))

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}
'''

CHANNEL_SLICE = '''class ChannelSlice(keras.layers.Layer):
    """The channels `start` to `stop` (excluded) of a channels-last tensor."""

    def __init__(self, start, stop, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop = start, stop

    def call(self, x):
        return x[..., self.start : self.stop]

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop}
'''

RESIZE = '''class Resize(keras.layers.Layer):
    """Resizes the spatial axes of a channels-last tensor to `size`, or, called on [x, like], x to
    like's, sampling as ONNX Runtime does for the spec (and PyTorch's interpolate): "nearest" takes
    position floor(i / scale), "linear" blends the two positions around (i + 0.5) / scale - 0.5
    (align_corners=False), per axis. Keras's own resizing samples as each backend does; this is the
    same on all."""

    def __init__(self, interpolation="nearest", size=None, **kwargs):
        super().__init__(**kwargs)
        self.interpolation, self.size = interpolation, size

    def call(self, inputs):
        x, size = (inputs[0], inputs[1].shape[1:-1]) if isinstance(inputs, (list, tuple)) else (inputs, self.size)
        for axis, out in enumerate(size, start=1):
            extent = x.shape[axis]
            scale = np.float32(out) / np.float32(extent)
            positions = np.arange(out, dtype=np.float32)
            if self.interpolation == "nearest":
                x = keras.ops.take(x, np.floor(positions / scale).astype(np.int64), axis=axis)
                continue
            source = np.clip((positions + np.float32(0.5)) / scale - np.float32(0.5), 0, extent - 1)
            low = np.floor(source).astype(np.int64)
            high = np.minimum(low + 1, extent - 1)
            weight = (source - low).reshape((1,) * axis + (out,) + (1,) * (len(x.shape) - axis - 1))
            weight = keras.ops.convert_to_tensor(weight, dtype=x.dtype)
            low_values, high_values = keras.ops.take(x, low, axis=axis), keras.ops.take(x, high, axis=axis)
            x = low_values + (high_values - low_values) * weight
        return x

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation, "size": self.size}
'''

CENTER_CROP = '''class CenterCrop(keras.layers.Layer):
    """Called on [x, like]: the centre of x's spatial axes, of like's spatial size (U-Net's skips);
    an odd difference leaves the extra row at the end."""

    def call(self, inputs):
        x, like = inputs
        for axis, (extent, size) in enumerate(zip(x.shape[1:-1], like.shape[1:-1], strict=True), start=1):
            x = keras.ops.take(x, np.arange(size) + (extent - size) // 2, axis=axis)
        return x
'''

LOCAL_RESPONSE_NORM = '''class LocalResponseNorm(keras.layers.Layer):
    """ONNX's LRN over the last axis: x / (k + alpha / size * the sum of the squares of the `size`
    channels centred on x's) ** beta."""

    def __init__(self, size, alpha, beta, k, **kwargs):
        super().__init__(**kwargs)
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def call(self, x):
        channels, half = x.shape[-1], self.size // 2
        squares = keras.ops.pad(keras.ops.square(x), ((0, 0),) * (len(x.shape) - 1) + ((half, half),))
        total = sum(squares[..., i : i + channels] for i in range(self.size))
        return x / keras.ops.power(self.k + self.alpha / self.size * total, self.beta)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "alpha": self.alpha, "beta": self.beta, "k": self.k}
'''

TANH_GELU = '''class TanhGelu(keras.layers.Layer):
    """gelu's tanh approximation: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))."""

    def call(self, x):
        return keras.activations.gelu(x, approximate=True)
'''
