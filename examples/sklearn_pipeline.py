"""A scikit-learn pipeline (standard scaler → PCA → random forest) fitted on synthetic data, with
64 of its rows: the trees are costed on the paths those rows take.

    nexus compile examples/sklearn_pipeline.py:pipeline --target x86-server
"""

import numpy as np
from sklearn.datasets import make_classification
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def pipeline() -> tuple[object, np.ndarray]:
    """The fitted pipeline (16 features, 3 classes) and 64 example rows."""
    x, y = make_classification(n_samples=600, n_features=16, n_informative=8, n_classes=3,
                               random_state=0)
    x = x.astype(np.float32)
    model = make_pipeline(StandardScaler(), PCA(n_components=8, random_state=0),
                          RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0))
    return model.fit(x, y), x[:64]
