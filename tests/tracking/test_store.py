"""A new sqlite store is opened on a thread while TensorFlow loads; what goes wrong there
is reported by check_store, in the caller, as before."""
import pytest
from mlflow.tracking import MlflowClient

from pruning import tracking
from pruning.errors import TrackingError


def test_a_new_store_is_made_meanwhile_and_its_errors_left_to_check_store(store, tmp_path):
    uri = f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}"
    opening = tracking.open_meanwhile("meanwhile", uri, None)
    opening.join(120)
    assert not opening.is_alive()
    assert MlflowClient(uri).get_experiment_by_name("meanwhile") is not None
    tracking.check_store("meanwhile", uri)  # now quick: the tables exist

    bad = "sqlite:////proc/no-such-dir/mlflow.db"  # cannot be created
    opening = tracking.open_meanwhile(None, bad)
    opening.join(120)
    assert not opening.is_alive()  # it dropped the error...
    with pytest.raises(TrackingError, match="unusable"):  # ...which the caller still gets
        tracking.check_store(None, bad)
