"""What densefit does not have, said as such.

``import densefit as keras`` ports a Keras program; a name densefit lacks
should say that it is missing on purpose and what to use instead, not raise
a bare ``AttributeError``.  Each public module ends with
``__getattr__ = missing.module_getattr(__name__, globals())``: a Keras name
densefit lacks raises ``MissingFeatureError`` (an AttributeError, so
``hasattr`` and ``getattr(..., default)`` keep working) naming the
alternative; any other unknown name suggests near-identical names only.
"""
from .suggestions import near_names

_DENSE_ONLY = "densefit trains dense (fully connected) networks"

# (names, what they are, what to use instead), by the module that lacks them
_FAMILIES = {
    "densefit": [
        (("Model", "Functional"), "the functional or subclassed Model API",
         "build the network as densefit.Sequential([...]) of layers"),
        (("ops",), "keras.ops (tensor operations: model outputs are already NumPy arrays)",
         "use NumPy, and densefit.activations for softmax, sigmoid and the other activations "
         "(tf.nn.softmax(logits) -> densefit.activations.softmax(logits))"),
        (("random", "tree", "mixed_precision", "export", "quantizers",
          "dtype_policies", "applications", "preprocessing", "visualization",
          "distillation", "constraints", "saving", "config", "legacy", "KerasTensor", "Variable",
          "Operation", "Function", "InputSpec", "RematScope", "remat", "device", "name_scope"),
         "this part of Keras (it is beyond training dense networks)",
         "use NumPy for array operations; densefit.models.load_model and model.save for files"),
        (("distribution",), "Keras' distribution API (keras.distribution: DataParallel, "
         "ModelParallel on JAX devices)",
         "for data-parallel training use densefit.distributed.MPIStrategy: "
         "model.fit(..., distribute=MPIStrategy()) launched with mpiexec "
         '(pip install "densefit[mpi]")'),
        (("wrappers",), "Keras' scikit-learn wrappers (keras.wrappers.SKLearnClassifier, ...)",
         "use densefit.sklearn.DenseClassifier or DenseRegressor (MLPClassifier's parameters; "
         'pip install "densefit[sklearn]")'),
    ],
    "layers": [
        (("Conv1D", "Conv2D", "Conv3D", "Convolution1D", "Convolution2D", "Convolution3D",
          "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "SeparableConv1D",
          "SeparableConv2D", "DepthwiseConv1D", "DepthwiseConv2D", "MaxPooling1D", "MaxPooling2D",
          "MaxPooling3D", "MaxPool1D", "MaxPool2D", "MaxPool3D", "AveragePooling1D",
          "AveragePooling2D", "AveragePooling3D", "AvgPool1D", "AvgPool2D", "AvgPool3D",
          "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
          "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "Cropping1D",
          "Cropping2D", "Cropping3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
          "UpSampling1D", "UpSampling2D", "UpSampling3D", "SpatialDropout1D", "SpatialDropout2D",
          "SpatialDropout3D"),
         "convolutional or pooling layers",
         "flatten images with Flatten() (or Input(shape=(28, 28)), Flatten()) and use Dense "
         "layers, or train a convolutional network with Keras or PyTorch"),
        (("LSTM", "GRU", "SimpleRNN", "RNN", "LSTMCell", "GRUCell", "SimpleRNNCell",
          "Bidirectional", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "TimeDistributed",
          "Attention", "AdditiveAttention", "MultiHeadAttention", "GroupQueryAttention",
          "Embedding", "Masking", "TextVectorization"),
         "recurrent, attention or embedding layers",
         "encode sequences as fixed-length feature vectors (e.g. multi-hot) for Dense layers, or "
         "use Keras or PyTorch"),
        (("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
          "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot",
          "Lambda", "Reshape", "Permute", "RepeatVector", "Identity", "EinsumDense", "InputLayer",
          "Wrapper", "Pipeline", "TFSMLayer", "JaxLayer", "FlaxLayer", "TorchModuleWrapper"),
         "layers for branching or custom graphs",
         "densefit.Sequential runs one stack of layers; reshape data with NumPy before fit"),
        (("LayerNormalization", "GroupNormalization", "UnitNormalization", "SpectralNormalization",
          "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization",
          "Rescaling", "Resizing", "CenterCrop", "RandomFlip", "RandomRotation", "RandomZoom",
          "RandomCrop", "RandomTranslation", "RandomContrast", "RandomBrightness", "Discretization",
          "CategoryEncoding", "Hashing", "HashedCrossing", "StringLookup", "IntegerLookup",
          "ThresholdedReLU", "Softplus"),
         "this normalization, noise or preprocessing layer",
         "use BatchNormalization, Normalization or Dropout, or prepare the features with NumPy "
         "(x / 255.0 for Rescaling, keras.utils.to_categorical for category encoding)"),
    ],
    "models": [
        (("Model", "Functional"), "the functional or subclassed Model API",
         "build the network as densefit.Sequential([...]) of layers"),
    ],
    "callbacks": [
        (("TensorBoard", "RemoteMonitor", "SwapEMAWeights"),
         "this callback",
         "log with CSVLogger and draw the curves with densefit.plot.history(history)"),
    ],
    "optimizers": [
        (("Adadelta", "Adafactor", "Ftrl", "Lamb", "Lion", "Muon", "LossScaleOptimizer",
          "OptimizerMap"),
         "this optimizer",
         "use Adam, AdamW, Nadam, Adamax, Adagrad, RMSprop or SGD"),
    ],
    "losses": [
        (("CosineSimilarity", "cosine_similarity", "CTC", "ctc", "Dice", "dice", "Tversky",
          "tversky", "Circle", "circle"),
         "this loss",
         "see densefit.losses for the losses it trains with (cross-entropies, MSE, MAE, Huber, "
         "...)"),
    ],
    "utils": [
        (("model_to_dot", "get_file", "pad_sequences", "load_img", "img_to_array",
          "array_to_img", "save_img", "image_dataset_from_directory",
          "text_dataset_from_directory", "timeseries_dataset_from_array",
          "audio_dataset_from_directory", "FeatureSpace", "Progbar",
          "bounding_boxes", "get_source_inputs", "Config", "register_keras_serializable"),
         "this utility",
         "load data into NumPy arrays (densefit.datasets reads MNIST and Keras' dataset files "
         "from disk) and print model.summary() or draw densefit.utils.plot_model(model) for the "
         "architecture"),
    ],
    "datasets": [
        (("imdb", "reuters", "cifar10", "cifar100", "california_housing"),
         "a reader for this dataset",
         "load it with Keras once and save the arrays with np.savez, then np.load them "
         "(densefit.datasets has mnist, fashion_mnist and boston_housing)"),
    ],
}


class MissingFeatureError(AttributeError):
    """A Keras name densefit lacks on purpose (an AttributeError, so hasattr works)."""


def module_getattr(module_name, namespace):
    """A module ``__getattr__`` for ``module_name`` whose own names are ``namespace``."""
    short = module_name.rsplit(".", 1)[-1]
    families = _FAMILIES.get(short, [])

    def __getattr__(name):
        for names, what, instead in families:
            if name in names:
                raise MissingFeatureError(
                    f"{module_name}.{name} is not available: {_DENSE_ONLY} and has no "
                    f"{what}. Instead: {instead}.")
        if name.startswith("__"):  # tools probe dunders: a plain AttributeError
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        close = near_names(name, [n for n in namespace if not n.startswith("_")])
        hint = f" Did you mean {', '.join(repr(n) for n in close)}?" if close else ""
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}.{hint}")

    return __getattr__
