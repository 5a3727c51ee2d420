"""Readers for the face datasets this project trains and evaluates on.

Each reader walks one published layout and returns a `FaceRecords`: file paths (or,
for FER2013, in-memory 48x48 images; for insightface's RecordIO sets, `EncodedImage`
records inside train.rec), identity and expression indices, and the subject key
that splits must keep together. Nothing is decoded here.

Expression labels are mapped onto `CANONICAL_EXPRESSIONS` (see
`canonical_expression`), so that records from several datasets share one label
space (see `combine`). A reader's `expression_names` lists the classes its dataset
uses, in canonical order.

A format is one module of this package: a read function decorated with
`@register(name, takes=..., matches=..., specificity=...)` (`DatasetFormat` says
what each declares). The registry imports every module of the package on first
use, so adding a format is adding its module; `detect_format`, `read_dataset` and
the shared reader tests pick it up. The built-in readers are also imported here,
by name, for callers that want one reader.

`recordio` is not a format: it reads the container insightface packs its sets in
(MXNet's `.rec` + `.idx`), without MXNet, for the `insightface_rec` reader.

TF-free: the tf.data pipeline and the command-line tools import this package, and
so may tools that never touch TensorFlow.
"""

from keras_dmtl.data.readers.base import IMAGE_EXTENSIONS
from keras_dmtl.data.readers.base import canonical_expression
from keras_dmtl.data.readers.base import ordered_expression_names
from keras_dmtl.data.readers.ckplus import read_ckplus
from keras_dmtl.data.readers.ckplus48 import read_ckplus48
from keras_dmtl.data.readers.combining import combine
from keras_dmtl.data.readers.combining import combine_arrays
from keras_dmtl.data.readers.combining import source_tags
from keras_dmtl.data.readers.dispatch import detect_format
from keras_dmtl.data.readers.dispatch import parse_format
from keras_dmtl.data.readers.dispatch import read_dataset
from keras_dmtl.data.readers.celeba import read_celeba
from keras_dmtl.data.readers.fer2013 import read_fer2013
from keras_dmtl.data.readers.fer2013_folders import read_fer2013_folders
from keras_dmtl.data.readers.fer_plus import read_fer_plus
from keras_dmtl.data.readers.insightface_rec import InsightfaceRec
from keras_dmtl.data.readers.insightface_rec import read_insightface_rec
from keras_dmtl.data.readers.jaffe import read_jaffe
from keras_dmtl.data.readers.lfw import read_lfw
from keras_dmtl.data.readers.lfw import read_lfw_pairs
from keras_dmtl.data.readers.lfw_expressions import read_lfw_expressions
from keras_dmtl.data.readers.manifest import read_manifest
from keras_dmtl.data.readers.matlab_faces import read_matlab_faces
from keras_dmtl.data.readers.orl import read_orl
from keras_dmtl.data.readers.oulu_casia import read_oulu_casia
from keras_dmtl.data.readers.registry import DatasetFormat
from keras_dmtl.data.readers.registry import available
from keras_dmtl.data.readers.registry import formats
from keras_dmtl.data.readers.registry import register

__all__ = [
    "DatasetFormat",
    "IMAGE_EXTENSIONS",
    "InsightfaceRec",
    "available",
    "canonical_expression",
    "combine",
    "combine_arrays",
    "source_tags",
    "detect_format",
    "formats",
    "ordered_expression_names",
    "parse_format",
    "read_ckplus",
    "read_celeba",
    "read_ckplus48",
    "read_dataset",
    "read_fer2013",
    "read_fer2013_folders",
    "read_fer_plus",
    "read_insightface_rec",
    "read_jaffe",
    "read_lfw",
    "read_lfw_expressions",
    "read_lfw_pairs",
    "read_manifest",
    "read_matlab_faces",
    "read_orl",
    "read_oulu_casia",
    "register",
]
