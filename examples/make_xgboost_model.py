"""Regenerate ``xgboost_model.json``: a gradient-boosted classifier (40 trees, depth 4, 10
features) fitted on synthetic data, single-threaded so the file is reproducible.

    python3 examples/make_xgboost_model.py
    nexus compile examples/xgboost_model.json --bind batch=1 --target x86-server
"""

from pathlib import Path

import numpy as np
import xgboost as xgb
from sklearn.datasets import make_classification


def main() -> None:
    x, y = make_classification(n_samples=800, n_features=10, n_informative=6, random_state=0)
    model = xgb.XGBClassifier(n_estimators=40, max_depth=4, learning_rate=0.2, n_jobs=1,
                              tree_method="exact", random_state=0)
    model.fit(x.astype(np.float32), y)
    model.save_model(Path(__file__).with_name("xgboost_model.json"))


if __name__ == "__main__":
    main()
