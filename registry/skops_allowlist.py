"""Types a skops artifact may contain beyond those skops trusts by default.

skops already trusts every public scikit-learn estimator (`sklearn.utils.all_estimators`:
linear models, trees, forests, gradient boosting, SVMs, kNN, naive Bayes, `Pipeline`,
`StandardScaler`, `MinMaxScaler`, ...), builtin containers, numpy dtypes and ufuncs, so
`skops.io.get_untrusted_types` never reports those and they are not repeated here. What it still
reports for the common estimator families are the private helper objects they keep after
fitting: those are listed below, per family, and were read off real fitted models
(`tests/registry/test_runtimes.py` checks that they still cover these families).

Anything else is refused: custom classes, `functools.partial`, `MLPClassifier`'s optimizer, ...
Add a type only after checking that it holds data and runs no code of its own on load, and that
compiled code does not trust its arrays (or list it in CHECKED_TYPES with a check).
"""

# Trusted only because every instance is checked once the model is loaded, before it runs
# (`registry/runtimes/sklearn_trees.py`): compiled code walks these trees' arrays without
# bounds checks. skops itself stopped trusting the decision tree for that reason.
CHECKED_TYPES: tuple[str, ...] = (
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.neighbors._kd_tree.KDTree",
)

TRUSTED_TYPES: tuple[str, ...] = (
    # Gradient boosting (GradientBoosting*, HistGradientBoosting*): the fitted loss and its link.
    "_loss.CyHalfMultinomialLoss",  # Cython class; it reports its module as plain `_loss`
    "sklearn._loss.link.HalfLogitLink",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogLink",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.loss.AbsoluteError",
    "sklearn._loss.loss.ExponentialLoss",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfGammaLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.HalfPoissonLoss",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.loss.HuberLoss",
    "sklearn._loss.loss.PinballLoss",
    # HistGradientBoosting*: the feature binner (its trees are in CHECKED_TYPES).
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    # k-nearest neighbours: the distance metric (the search trees are in CHECKED_TYPES).
    "sklearn.metrics._dist_metrics.ChebyshevDistance64",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
)

# What a skops file may contain beyond skops' own defaults.
ALLOWED_TYPES: tuple[str, ...] = TRUSTED_TYPES + CHECKED_TYPES
