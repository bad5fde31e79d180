"""scikit-learn, XGBoost and Hummingbird frontends: the IR's counts against numbers derived by
hand from the fitted models (tree paths from sklearn's ``decision_path`` and XGBoost's leaf
indices, MACs from layer sizes), saved-model loading and its safety rules."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("skl2onnx")

import nexus_ir as nx  # noqa: E402
from frontends.sklearn import from_sklearn  # noqa: E402
from nexus_ir import NexusError  # noqa: E402
from passes import PassManager  # noqa: E402
from passes.cost import counts_of  # noqa: E402
from passes.trees import annotate_tree_paths  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)
RNG = np.random.RandomState(0)
X = RNG.randn(40, 5).astype(np.float32)
Y2 = (X[:, 0] + X[:, 1] > 0).astype(int)
Y3 = np.digitize(X[:, 2], [-0.4, 0.4])
YR = X[:, 1] * 2 + X[:, 3]
ROWS = len(X)


def counts(graph, rows=ROWS, data=None):
    """Total primitive counts per op over the graph bound to ``rows`` rows (with real paths
    when ``data`` is given)."""
    bound = graph.bind_symbols({"batch": rows})
    if data is not None:
        annotate_tree_paths(bound, {bound.inputs[0].name: data})
    bound = PassManager(["primitive_counts"]).run(bound)
    per_op: dict[str, object] = {}
    for node in bound.nodes:
        c = counts_of(node)
        assert c is not None, f"{node.op} is unmodeled"
        per_op[node.op] = per_op[node.op] + c if node.op in per_op else c
    return per_op


def total_macs(per_op) -> int:
    return sum(c.macs for c in per_op.values())


# ----------------------------------------------------------------------------- trees
def sklearn_path_compares(trees, data) -> int:
    """Compares on the real paths: nodes on each row's decision path minus the leaf."""
    return sum(int(t.decision_path(data).sum()) - len(data) for t in trees)


def sklearn_depth_bound(trees, rows) -> int:
    return sum(t.get_depth() for t in trees) * rows


def tree_cases():
    from sklearn.ensemble import (ExtraTreesRegressor, GradientBoostingClassifier,
                                  RandomForestClassifier)
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
    dt = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, Y3)
    dtr = DecisionTreeRegressor(max_depth=5, random_state=0).fit(X, YR)
    rf = RandomForestClassifier(6, max_depth=4, random_state=0).fit(X, Y2)
    et = ExtraTreesRegressor(5, max_depth=3, random_state=0).fit(X, YR)
    gb = GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0).fit(X, Y3)
    return {"decision tree": (dt, [dt]), "decision tree regressor": (dtr, [dtr]),
            "random forest": (rf, rf.estimators_), "extra trees": (et, et.estimators_),
            "gradient boosting": (gb, list(gb.estimators_.ravel()))}


@pytest.mark.parametrize("family", ["decision tree", "decision tree regressor",
                                    "random forest", "extra trees", "gradient boosting"])
def test_tree_compares_follow_the_real_paths_and_the_depth_bound(family):
    model, trees = tree_cases()[family]
    graph = from_sklearn(model, X)
    static = counts(graph)["tree_ensemble"]
    assert static.total("cmp") == sklearn_depth_bound(trees, ROWS)
    real = counts(graph, data=X)["tree_ensemble"]
    assert real.total("cmp") == sklearn_path_compares(trees, X)
    assert real.total("select") == real.total("cmp")
    assert real.total("cmp") <= static.total("cmp")


def test_real_paths_scale_to_another_batch():
    """Paths measured on R rows are charged per row: 2R rows cost twice the compares."""
    model, trees = tree_cases()["random forest"]
    graph = from_sklearn(model, X)
    annotate_tree_paths(graph, {"X": X})
    node = next(n for n in graph.nodes if n.op == "tree_ensemble")
    measured = sklearn_path_compares(trees, X)
    paths = node.annotations["tree_paths"]
    assert (paths["rows"], paths["compares"]) == (ROWS, measured)
    per_row = sum(np.asarray(t.decision_path(X).sum(axis=1)).ravel() - 1 for t in trees)
    assert paths["per_row"] == per_row.tolist()
    assert paths["distribution"]["mean"] == pytest.approx(measured / ROWS)
    assert paths["distribution"]["max"] == per_row.max()
    doubled = PassManager(["primitive_counts"]).run(graph.bind_symbols({"batch": 2 * ROWS}))
    tree = next(n for n in doubled.nodes if n.op == "tree_ensemble")
    assert counts_of(tree).total("cmp") == 2 * measured


def test_hist_gradient_boosting_depth_bound():
    from sklearn.ensemble import HistGradientBoostingClassifier
    model = HistGradientBoostingClassifier(max_iter=4, max_depth=3).fit(X, Y2)
    depth = sum(int(p.nodes["depth"].max()) for stage in model._predictors for p in stage)
    assert counts(from_sklearn(model, X))["tree_ensemble"].total("cmp") == depth * ROWS


def test_tree_structure_is_carried_whole():
    from sklearn.tree import DecisionTreeClassifier
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, Y3)
    node = next(n for n in from_sklearn(model, X).nodes if n.op == "tree_ensemble")
    a = node.attributes
    tree = model.tree_
    assert len(a["modes"]) == tree.node_count
    inner = a["modes"] != 0
    assert sorted(a["feature_ids"][inner]) == sorted(tree.feature[tree.feature >= 0])
    np.testing.assert_allclose(sorted(a["thresholds"][inner]),
                               sorted(tree.threshold[tree.feature >= 0]), rtol=1e-6)
    assert a["leaf_values"].shape == (tree.node_count, 3)


# ----------------------------------------------------------------------------- linear, MLP, SVM
def test_linear_models_macs():
    from sklearn.linear_model import LinearRegression, LogisticRegression
    multi = LogisticRegression().fit(X, Y3)
    assert counts(from_sklearn(multi, X))["linear_classifier"].total("fma") == ROWS * 3 * 5
    reg = LinearRegression().fit(X, YR)
    assert total_macs(counts(from_sklearn(reg, X))) == ROWS * 1 * 5


def test_mlp_macs_are_the_layer_sizes():
    from sklearn.neural_network import MLPClassifier
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier((16, 8), max_iter=5, random_state=0).fit(X, Y3)
    assert total_macs(counts(from_sklearn(mlp, X))) == ROWS * (5 * 16 + 16 * 8 + 8 * 3)


def test_svm_macs_kernel_then_pairwise_decisions():
    from sklearn.svm import SVC, SVR
    svc = SVC(kernel="rbf").fit(X, Y3)
    vectors = int(svc.n_support_.sum())
    pairs = 3
    # K = X·SVᵀ, then the one-vs-one decisions K·C (dense), then the vote tally over classes
    assert total_macs(counts(from_sklearn(svc, X))) == ROWS * (vectors * 5 + vectors * pairs
                                                              + pairs * 3)
    svr = SVR(kernel="rbf").fit(X, YR)
    assert total_macs(counts(from_sklearn(svr, X))) == ROWS * (len(svr.support_) * 5
                                                              + len(svr.support_))


def test_knn_is_a_distance_matrix_product():
    from sklearn.neighbors import KNeighborsClassifier
    knn = KNeighborsClassifier(3).fit(X, Y2)
    per_op = counts(from_sklearn(knn, X[:7]), rows=7)
    assert per_op["matmul"].macs == 7 * ROWS * 5
    assert "topk" in per_op


def test_pipeline_with_scaler_pca_and_classifier():
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    pipe = make_pipeline(StandardScaler(), PCA(2), LogisticRegression()).fit(X, Y3)
    per_op = counts(from_sklearn(pipe, X))
    assert per_op["matmul"].macs == ROWS * 5 * 2
    assert per_op["linear_classifier"].total("fma") == ROWS * 3 * 2


def test_one_hot_encoder_pipeline_compares_every_category():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    cats = RNG.randint(0, 4, (ROWS, 2)).astype(np.int64)
    pipe = make_pipeline(OneHotEncoder(), LogisticRegression()).fit(cats, Y2)
    per_op = counts(from_sklearn(pipe, cats))
    widths = sum(len(c) for c in pipe[0].categories_)
    assert per_op["eq"].total("cmp") == ROWS * widths


def test_unfitted_estimator_is_refused():
    from sklearn.linear_model import LogisticRegression
    with pytest.raises(NexusError, match="is not fitted"):
        from_sklearn(LogisticRegression(), X)


# ----------------------------------------------------------------------------- saved models
class Doubler:
    """A type skops does not know (defined in this test module)."""

    def fit(self, x, y=None):
        return self

    def transform(self, x):
        return 2 * x


def test_pickles_need_the_trust_flag(tmp_path):
    from sklearn.linear_model import LogisticRegression
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(LogisticRegression().fit(X, Y2)))
    with pytest.raises(NexusError, match="loading it runs code"):
        nx.compile(path, bindings={"batch": 1})
    report = nx.compile(path, bindings={"batch": 1}, trust_pickle=True)
    assert report.metrics["macs"] == 2 * 5


def test_skops_files_load_through_the_trusted_types_check(tmp_path):
    skops_io = pytest.importorskip("skops.io")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    good = tmp_path / "model.skops"
    skops_io.dump(LogisticRegression().fit(X, Y3), good)
    assert nx.compile(good, bindings={"batch": 1}).metrics["macs"] == 3 * 5
    bad = tmp_path / "custom.skops"
    skops_io.dump(make_pipeline(FunctionTransformer(Doubler().transform),
                                LogisticRegression()).fit(X, Y3), bad)
    with pytest.raises(NexusError, match="types skops does not trust"):
        nx.compile(bad, bindings={"batch": 1})


# ----------------------------------------------------------------------------- XGBoost
xgb = pytest.importorskip("xgboost")


def xgboost_path_compares(booster, data) -> int:
    """Depth of the leaf each row lands in, per tree, from XGBoost's own tree dump."""
    frame = booster.trees_to_dataframe()
    depth: dict[str, int] = {}
    for _, tree in frame.groupby("Tree"):
        rows = {r.ID: r for r in tree.itertuples()}
        stack = [(f"{int(tree.Tree.iloc[0])}-0", 0)]
        while stack:
            node, d = stack.pop()
            depth[node] = d
            if rows[node].Feature != "Leaf":
                stack += [(rows[node].Yes, d + 1), (rows[node].No, d + 1)]
    leaves = booster.predict(xgb.DMatrix(data), pred_leaf=True).astype(int)
    return sum(depth[f"{t}-{leaf}"] for row in leaves for t, leaf in enumerate(row))


@pytest.fixture(scope="module")
def xgb_classifier():
    return xgb.XGBClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, Y2)


def test_xgboost_classifier_paths(xgb_classifier):
    from frontends.xgboost import from_xgboost
    graph = from_xgboost(xgb_classifier)
    real = counts(graph, data=X)["tree_ensemble"]
    assert real.total("cmp") == xgboost_path_compares(xgb_classifier.get_booster(), X)


def test_xgboost_regressor_and_multiclass(tmp_path):
    from frontends.xgboost import from_xgboost
    reg = xgb.XGBRegressor(n_estimators=4, max_depth=2).fit(X, YR)
    assert counts(from_xgboost(reg), data=X)["tree_ensemble"].total("cmp") == \
        xgboost_path_compares(reg.get_booster(), X)
    multi = xgb.XGBClassifier(n_estimators=3, max_depth=2).fit(X, Y3)
    graph = from_xgboost(multi)
    assert [str(v.type) for v in graph.outputs] == ["i64[batch]", "f32[batch,3]"]
    assert counts(graph, data=X)["tree_ensemble"].total("cmp") == \
        xgboost_path_compares(multi.get_booster(), X)


@pytest.mark.parametrize("suffix", [".json", ".ubj"])
def test_xgboost_model_files_and_boosters(tmp_path, xgb_classifier, suffix):
    path = tmp_path / f"model{suffix}"
    xgb_classifier.save_model(path)
    report = nx.compile(path, X)
    direct = nx.compile(xgb_classifier.get_booster(), X)
    assert report.metrics["transistor_ops"] == direct.metrics["transistor_ops"] > 0
    assert report.unmodeled == []


def test_xgboost_file_that_is_not_a_model(tmp_path):
    path = tmp_path / "notes.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(NexusError, match="notes.json: not a valid XGBoost model: no .learner. "
                                         "object"):
        nx.compile(path)


# ----------------------------------------------------------------------------- Hummingbird
def test_trees_versus_hummingbird_gemm_side_by_side(xgb_classifier):
    pytest.importorskip("hummingbird.ml", reason="Hummingbird installs with --no-deps "
                        "(see .ci/run); without it the tensorized form is not available")
    from frontends.hummingbird import from_hummingbird
    from frontends.xgboost import from_xgboost
    rows = X[:16]
    as_trees = nx.compile(from_xgboost(xgb_classifier), rows)
    reports = {m: nx.compile(from_hummingbird(xgb_classifier, rows, m))
               for m in ("gemm", "tree_trav", "perf_tree_trav")}
    for report in [as_trees, *reports.values()]:
        assert report.unmodeled == []
    # GEMM evaluates every split of every tree for every row, as dense matrix products
    assert as_trees.metrics["macs"] == 0
    assert reports["gemm"].metrics["macs"] > 0
    assert reports["gemm"].metrics["transistor_ops"] > as_trees.metrics["transistor_ops"]


def test_weights_held_in_attributes_count_as_model_bytes_and_traffic():
    """Tree nodes and linear coefficients are weights even though the IR keeps them as
    attributes: parameters, model bytes and the bytes read per inference include them."""
    from sklearn.tree import DecisionTreeClassifier
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, Y3).tree_
    report = nx.compile(DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, Y3),
                        bindings={"batch": 1}, warm=False)   # cold: x and the scores in DRAM
    leaves = int((tree.children_left == -1).sum())
    inner = tree.node_count - leaves
    assert report.metrics["parameters"] == inner + leaves * 3
    assert report.metrics["model_bytes"] == tree.node_count * 17 + leaves * 3 * 4
    node = next(n for n in report.nodes if n.op == "tree_ensemble")
    # reads x (5 f32) and the tree, writes the 3 scores
    assert node.off_chip_bytes == 5 * 4 + tree.node_count * 17 + leaves * 3 * 4 + 3 * 4


def test_a_missing_package_names_the_install_command_from_an_index_and_a_checkout():
    from frontends import require

    with pytest.raises(NexusError, match=r"pip install 'nexus-ml\[trees\]' \(from a checkout: "
                                         r"pip install -e '\.\[trees\]'\)"):
        require("no_such_package_here", "trees")


# ----------------------------------------------------------------------------- LightGBM
def lightgbm_path_compares(booster, data) -> int:
    """Compares the rows make, by hand: each row's leaf per tree (LightGBM's pred_leaf) at
    that leaf's depth in the dumped tree structure."""
    def depths(node, depth=0, found=None):
        found = {} if found is None else found
        if "leaf_index" in node:
            found[node["leaf_index"]] = depth
        elif "split_index" in node:
            depths(node["left_child"], depth + 1, found)
            depths(node["right_child"], depth + 1, found)
        else:                                   # a one-leaf tree
            found[0] = 0
        return found
    trees = [depths(t["tree_structure"]) for t in booster.dump_model()["tree_info"]]
    leaves = booster.predict(data, pred_leaf=True).reshape(len(data), -1)
    return int(sum(trees[t][int(leaf)] for row in leaves for t, leaf in enumerate(row)))


@pytest.mark.parametrize("make, y", [("LGBMClassifier", Y2), ("LGBMClassifier", Y3),
                                     ("LGBMRegressor", YR)])
def test_lightgbm_estimators_boosters_and_text_files_follow_the_real_paths(tmp_path, make, y):
    lgb = pytest.importorskip("lightgbm")
    from frontends.lightgbm import from_lightgbm
    model = getattr(lgb, make)(n_estimators=4, num_leaves=5, min_child_samples=3,
                               verbose=-1).fit(X, y)
    expected = lightgbm_path_compares(model.booster_, X)
    assert counts(from_lightgbm(model), data=X)["tree_ensemble"].total("cmp") == expected
    path = tmp_path / "model.txt"
    model.booster_.save_model(path)
    by_file = nx.compile(path, X, target="x86-server")
    assert by_file.unmodeled == [] and by_file.metrics["transistor_ops"] == \
        nx.compile(model.booster_, X, target="x86-server").metrics["transistor_ops"]
    classes = len(set(y)) if make == "LGBMClassifier" else 1
    tree = next(n for n in from_lightgbm(model) if n.op == "tree_ensemble")
    assert len(tree.attributes["tree_roots"]) == 4 * (classes if classes > 2 else 1)


def test_a_text_file_that_is_no_lightgbm_model_is_refused(tmp_path):
    pytest.importorskip("lightgbm")
    from frontends.lightgbm import load_booster
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    with pytest.raises(NexusError, match="is not a LightGBM text model"):
        load_booster(path)


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_a_pipeline_ending_in_a_booster_is_named_by_its_steps(library):
    lib = pytest.importorskip(library)
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    booster = lib.LGBMClassifier(n_estimators=3, verbose=-1) if library == "lightgbm" else \
        lib.XGBClassifier(n_estimators=3, max_depth=2)
    pipe = make_pipeline(StandardScaler(), booster).fit(X, Y2)
    report = nx.compile(pipe, X, target="x86-server")
    assert report.unmodeled == []
    assert {n.source for n in report.nodes} == {"standardscaler", type(booster).__name__.lower()}


# ----------------------------------------------------------------------------- anomaly, frames
def test_isolation_forest_looks_up_each_trees_path_length():
    from sklearn.ensemble import IsolationForest
    model = IsolationForest(n_estimators=6, random_state=0).fit(X)
    graph = from_sklearn(model, X)
    assert [n.source for n in graph][0] == "IsolationForest"
    report = nx.compile(graph, target="x86-server", bindings={"batch": ROWS})
    assert report.unmodeled == []
    # per tree, two LabelEncoder lookups (leaf → node samples, leaf → path length): gathers
    assert sum(n.op == "gather" for n in graph) >= 2 * 6
    assert sum(n.op == "tree_ensemble" for n in graph) == 6


def test_a_dataframe_pipeline_selects_columns_by_name_and_encodes_strings():
    pd = pytest.importorskip("pandas")
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    frame = pd.DataFrame({"age": X[:, 0] * 10 + 40, "income": X[:, 1],
                          "city": np.array(["paris", "lyon", "nice", "lille"])[RNG.randint(0, 4, ROWS)]})
    prep = ColumnTransformer([("num", StandardScaler(), ["age", "income"]),
                              ("cat", OneHotEncoder(), ["city"])])
    pipe = Pipeline([("prep", prep), ("clf", LogisticRegression())]).fit(frame, Y2)
    with pytest.warns(UserWarning, match="string input city: costed as one 64-bit category code"):
        report = nx.compile(pipe, frame, target="x86-server")
    assert report.bindings == {"batch": ROWS} and report.unmodeled == []
    by_module = {m.module for m in report.per_module(2)}
    assert {"prep.num", "prep.cat", "clf"} <= by_module
    assert next(n for n in report.nodes if n.op == "eq").source == "prep.cat"
    with pytest.warns(UserWarning):
        assert counts(from_sklearn(pipe, frame))["eq"].total("cmp") == ROWS * 4   # per category
    # 2 scaled + 4 one-hot features, two score rows (skl2onnx writes a binary model as ±w)
    assert next(n for n in report.nodes if n.op == "linear_classifier").macs == ROWS * 6 * 2


# ----------------------------------------------------------------------------- CPU execution
def test_x86_server_charges_tree_compares_at_the_measured_traversal_rate():
    """One ONNX Runtime core: a forest's time is its rows' real split compares over the
    target's measured traversal rate, and it reads a cache line per visited node, not the
    whole forest."""
    from lowering.target import load_target
    from sklearn.ensemble import RandomForestClassifier
    from passes.cost import CACHE_LINE_BYTES, attribute_weights
    target = load_target("x86-server")
    forest = RandomForestClassifier(30, max_depth=6, random_state=0).fit(X, Y3)
    compares = sum(int(t.decision_path(X).sum()) - ROWS for t in forest.estimators_)
    report = nx.compile(forest, X, target="x86-server")
    node = next(n for n in report.nodes if n.op == "tree_ensemble")
    assert node.time_s >= compares / target.number("tree_compares_per_s")
    graph = from_sklearn(forest, X)
    held = attribute_weights(next(n for n in graph if n.op == "tree_ensemble"))[1]
    visited = (compares + ROWS * 30) * CACHE_LINE_BYTES
    assert node.off_chip_bytes >= min(held, visited) and node.off_chip_bytes < held + X.nbytes \
        + 4096
    linear = nx.compile(pytest.importorskip("sklearn.linear_model").LogisticRegression()
                        .fit(X, Y3), X, target="x86-server")
    assert report.metrics["latency_s"] > linear.metrics["latency_s"]   # 5 dot products a row


def test_precision_rewrites_are_offered_only_in_formats_the_target_runs():
    from lowering.target import load_target
    from passes.rewrites.precision import native_formats
    assert native_formats(load_target("x86-server")) == ("bf16",)       # AVX512_BF16, no f16
    assert native_formats(load_target("h100")) == ("bf16", "f16")
    assert native_formats(load_target("horowitz-45nm")) == ("bf16", "f16")   # lists no rates
