-- The Optuna study's database, beside MLflow's (POSTGRES_DB creates that one).
CREATE DATABASE optuna OWNER pruning;
