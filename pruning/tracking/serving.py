"""The shipped model as MLflow loads and serves it (logged as "models from code").

MLflow's tensorflow flavor loads through `tf.keras`, which is Keras 3 unless
TF_USE_LEGACY_KERAS=1 was set before TensorFlow's first import, and Keras 3 cannot
read a tf_keras model ("Could not locate class 'Functional'"). This loader imports
`tf_keras` itself, which reads the model whatever TensorFlow's Keras is, so
`mlflow.pyfunc.load_model` and `mlflow models serve` work with no variable set.
MLflow stores this file with the model: loading needs neither this package nor a
pickle. Keep it free of imports from `pruning`.
"""
import json

import mlflow
import numpy as np


class PrunedClassifier(mlflow.pyfunc.PythonModel):
    """Class probabilities of the stripped pruned model (artifact `keras_model`: tf_keras
    HDF5, or a Keras 3 `.keras` file for a Keras 3 source),
    from inputs as the user has them: the artifact `input_transform` says how they became
    what the model trained on (e.g. uint8 (N, 28, 28) images: a channel axis, / 255).
    The int8 TFLite file that ships beside it is the artifact `tflite_int8`."""

    def load_context(self, context):
        path = context.artifacts["keras_model"]
        if path.endswith(".keras"):  # a Keras 3 source's model, handed back as Keras 3
            import keras

            self.model = keras.saving.load_model(path, compile=False)
        else:
            import tf_keras

            self.model = tf_keras.models.load_model(path, compile=False)
        self.transform = {"scale": 1.0, "channel_axis": False}
        if "input_transform" in context.artifacts:
            with open(context.artifacts["input_transform"]) as f:
                self.transform = json.load(f)

    def predict(self, context, model_input, params=None):
        x = np.asarray(model_input, dtype=np.float32)
        if self.transform["channel_axis"]:
            x = x[..., None]
        x = x * np.float32(self.transform["scale"]) if self.transform["scale"] != 1 else x
        return self.model.predict(x, verbose=0)


mlflow.models.set_model(PrunedClassifier())
