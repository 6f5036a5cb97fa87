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


def test_a_servers_database_is_refused_with_the_way_in(tmp_path):
    """Opened through its database, a store whose artifacts an `mlflow server` proxies
    would fail at the first cached model or logged file: refused up front, by name."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracking.check_store("plain", uri)  # local artifacts: fine
    MlflowClient(uri).create_experiment("team", artifact_location="mlflow-artifacts:/1")
    with pytest.raises(TrackingError, match=r"database of an MLflow server.*'team'.*"
                                            r"mlflow-artifacts:/1.*--tracking-uri http"):
        tracking.check_store("plain", uri)
