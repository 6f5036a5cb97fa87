"""TFLite conversion through one traced function: the same file, in effect, as tfmot's
and TensorFlow's usual `from_keras_model`, at a fraction of the time."""
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from pruning.data import splits as data
from pruning.shipping import export
from pruning.models import builtin as models
from pruning.config import ExperimentConfig


def _run(tflite: bytes, x: np.ndarray) -> tuple[np.ndarray, dict]:
    interpreter = Interpreter(model_content=tflite)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, list(x.shape))  # batches of any size
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, x)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    return out, interpreter.get_signature_list()


def test_traced_conversion_matches_from_keras_model():
    splits = data.load("synthetic", "", 0.1, 0)
    model = models.build("cnn", splits.input_shape, splits.num_classes,
                         ExperimentConfig(dataset="synthetic", model="cnn"))
    x = splits.x_test[:5].astype(np.float32)
    usual = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    out, signature = _run(export.to_tflite(model), x)
    usual_out, usual_signature = _run(usual, x)
    np.testing.assert_array_equal(out, usual_out)
    assert signature == usual_signature  # same signature key, input and output names

    calibration = splits.x_train[:16]
    int8 = export.to_tflite_int8(model, calibration, per_channel=True)
    keras_int8 = tf.lite.TFLiteConverter.from_keras_model(model)
    keras_int8.optimizations = [tf.lite.Optimize.DEFAULT]
    keras_int8.representative_dataset = lambda: ([calibration[i: i + 1]] for i in range(16))
    np.testing.assert_array_equal(_run(int8, x)[0], _run(keras_int8.convert(), x)[0])
