import keras_minibatch


def test_public_api_is_pinned():
    assert sorted(keras_minibatch.__all__) == sorted(
        [
            "__version__", "ConfigError", "TrainConfig", "DataError", "Dataset", "load_dataset",
            "build_mlp", "TrainResult", "train_and_evaluate", "evaluate_saved_model", "prepare_run_dir",
            "SearchConfig", "SearchResult", "SearchError", "search", "load_tuner", "seed_variance",
            "seed_variance_report", "ComparisonResult", "compare_search_strategies",
            "RandomSearch", "BayesianOptimization", "GridSearch", "Hyperband", "RandomSearchOracle",
            "BayesianOptimizationOracle", "ResumableGridSearchOracle", "CappedHyperbandOracle",
            "predict", "Predictions", "export_model",
        ]
    )
    for name in keras_minibatch.__all__:
        assert getattr(keras_minibatch, name) is not None


def test_optimizer_names_match_the_model_builder():
    from keras_minibatch import config
    from keras_minibatch.training import model

    assert set(config.OPTIMIZERS) == set(model._OPTIMIZER_CLASSES)
