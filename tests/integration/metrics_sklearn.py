#!/usr/bin/python3
"""`lucent metrics` against scikit-learn: random prediction/truth files with ties for binary,
multiclass, ordinal and multilabel tasks; every reported value must equal scikit-learn's (or a
NumPy transcription of the documented definition where scikit-learn has none) to 1e-9. Then
the bad inputs: each fails with the exit code of its error code and names the file, line and id.
Runs with Debian's python3 (numpy, scikit-learn from python3-sklearn); skips (77) without them."""
import json
import os
import subprocess
import sys
import tempfile
import warnings

try:
    import numpy as np
    from sklearn import metrics as skm
    from sklearn.preprocessing import label_binarize
except ImportError as e:  # pragma: no cover
    print(f"SKIP: needs numpy and scikit-learn (apt install python3-sklearn): {e}")
    sys.exit(77)

warnings.filterwarnings("ignore")
LUCENT = os.environ.get("LUCENT_BIN")
if not LUCENT or not os.path.exists(LUCENT):
    print("SKIP: LUCENT_BIN does not point at the lucent binary")
    sys.exit(77)

TOL = 1e-9
failures = []
WORK = tempfile.mkdtemp(prefix="lucent-metrics-")


def expect(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def close(name, got, want):
    ok = got is not None and abs(got - want) <= TOL
    expect(ok, f"{name}: lucent {got!r} vs reference {want!r}")


def write_csv(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(str(x) for x in r) + "\n")


def run(args):
    return subprocess.run([LUCENT, "metrics", *args], capture_output=True, text=True)


def lucent_metrics(tag, pred_rows, pred_header, truth_rows, truth_header, task, extra=()):
    d = os.path.join(WORK, tag)
    os.makedirs(d, exist_ok=True)
    pred, truth = os.path.join(d, "pred.csv"), os.path.join(d, "truth.csv")
    write_csv(pred, pred_header, pred_rows)
    write_csv(truth, truth_header, truth_rows)
    p = run(["--pred", pred, "--truth", truth, "--task", task, "--out", d, *extra])
    expect(p.returncode == 0, f"{tag}: lucent metrics exits 0 (stderr: {p.stderr.strip()[:300]})")
    if p.returncode != 0:
        return None
    return json.load(open(os.path.join(d, "metrics.json")))


def value(js, name):
    return js["metrics"][name]["value"]


def ece_of(conf, outcome, bins=10):
    b = np.minimum(np.floor(conf * bins), bins - 1).astype(int)
    total = 0.0
    for k in range(bins):
        m = b == k
        if m.any():
            total += m.sum() / len(conf) * abs(outcome[m].mean() - conf[m].mean())
    return total


def rates(cm):
    """Per-class one-vs-rest (sensitivity, specificity, ppv, npv) from a KxK matrix."""
    n = cm.sum()
    out = []
    for c in range(cm.shape[0]):
        tp = cm[c, c]
        fn = cm[c].sum() - tp
        fp = cm[:, c].sum() - tp
        tn = n - tp - fn - fp
        out.append((tp / (tp + fn), tn / (tn + fp), tp / (tp + fp), tn / (tn + fn)))
    return np.array(out)


def delong(scores, y):
    pos, neg = scores[y == 1], scores[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return psi.mean(), v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)


rng = np.random.default_rng(20240611)
ids = [f"case{i:04d}" for i in range(400)]


def check_binary(tag, scores, y, pred_header, pred_rows, threshold=0.5, extra=()):
    truth_rows = [(ids[i], int(y[i]), f"site{i % 3}") for i in range(len(y))]
    js = lucent_metrics(tag, pred_rows, pred_header, truth_rows, ["id", "label", "site"], "binary",
                        ["--max-fpr", "0.3", "--bootstrap", "200", *extra])
    if js is None:
        return None
    yhat = (scores >= threshold).astype(int)
    close(f"{tag} auc", value(js, "auc"), skm.roc_auc_score(y, scores))
    close(f"{tag} pauc(max_fpr=0.3)", value(js, "pauc"), skm.roc_auc_score(y, scores, max_fpr=0.3))
    close(f"{tag} pr_auc", value(js, "pr_auc"), skm.average_precision_score(y, scores))
    close(f"{tag} acc", value(js, "acc"), skm.accuracy_score(y, yhat))
    close(f"{tag} sensitivity", value(js, "sensitivity"), skm.recall_score(y, yhat))
    close(f"{tag} specificity", value(js, "specificity"), skm.recall_score(y, yhat, pos_label=0))
    close(f"{tag} ppv", value(js, "ppv"), skm.precision_score(y, yhat))
    close(f"{tag} npv", value(js, "npv"), skm.precision_score(y, yhat, pos_label=0))
    close(f"{tag} f1", value(js, "f1"), skm.f1_score(y, yhat))
    close(f"{tag} balanced_acc", value(js, "balanced_acc"), skm.balanced_accuracy_score(y, yhat))
    close(f"{tag} kappa", value(js, "kappa"), skm.cohen_kappa_score(y, yhat))
    close(f"{tag} brier", value(js, "brier"), skm.brier_score_loss(y, scores))
    close(f"{tag} ece", value(js, "ece"), ece_of(scores, y))
    expect(js["confusion_matrix"] == skm.confusion_matrix(y, yhat, labels=[0, 1]).tolist(), f"{tag} confusion matrix")
    auc, var = delong(scores, y)
    z = 1.959963984540054
    close(f"{tag} DeLong ci_low", js["metrics"]["auc"]["ci_low"], max(0.0, auc - z * var ** 0.5))
    close(f"{tag} DeLong ci_high", js["metrics"]["auc"]["ci_high"], min(1.0, auc + z * var ** 0.5))
    for name, m in js["metrics"].items():
        if name != "auc":
            expect(m["ci_method"] == "bootstrap_bca" and m["ci_low"] - 1e-12 <= m["value"] <= m["ci_high"] + 1e-12,
                   f"{tag} {name}: BCa interval [{m['ci_low']}, {m['ci_high']}] holds {m['value']}")
    return js


def main():
    # Binary, two-decimal scores (many ties), file as `id,score`, rows shuffled.
    n = 300
    y = (rng.random(n) < 0.35).astype(int)
    scores = np.clip(np.round(rng.normal(0.4 + 0.25 * y, 0.2), 2), 0, 1)
    order = rng.permutation(n)
    check_binary("binary", scores, y, ["id", "score"], [(ids[i], repr(float(scores[i]))) for i in order])
    check_binary("binary-threshold", scores, y, ["id", "score"], [(ids[i], repr(float(scores[i]))) for i in order],
                 threshold=0.37, extra=["--threshold", "0.37"])
    # The file `lucent predict` writes: id,score_0,score_1,predicted — score_1 is the positive score.
    check_binary("binary-predict-format", scores, y, ["id", "score_0", "score_1", "predicted"],
                 [(ids[i], repr(1 - float(scores[i])), repr(float(scores[i])), "x") for i in range(n)])

    # Multiclass (K=4) and ordinal (K=5): softmax of integer logits, so scores tie across rows.
    for task, k in (("multiclass", 4), ("ordinal", 5)):
        n = 320
        y = rng.integers(0, k, n)
        logits = rng.integers(0, 4, (n, k)).astype(float)
        logits[np.arange(n), y] += rng.integers(0, 3, n)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        header = ["id"] + [f"score_{c}" for c in range(k)] + ["predicted"]
        rows = [(ids[i], *[repr(float(v)) for v in p[i]], "x") for i in range(n)]
        js = lucent_metrics(task, rows, header, [(ids[i], int(y[i])) for i in range(n)], ["id", "label"], task,
                            ["--bootstrap", "100"])
        if js is None:
            continue
        yhat = p.argmax(axis=1)
        cm = skm.confusion_matrix(y, yhat, labels=list(range(k)))
        r = rates(cm)
        close(f"{task} auc (macro OvR)", value(js, "auc"), skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))
        close(f"{task} pr_auc (macro OvR)", value(js, "pr_auc"),
              skm.average_precision_score(label_binarize(y, classes=list(range(k))), p, average="macro"))
        close(f"{task} acc", value(js, "acc"), skm.accuracy_score(y, yhat))
        close(f"{task} sensitivity", value(js, "sensitivity"), skm.recall_score(y, yhat, average="macro"))
        close(f"{task} ppv", value(js, "ppv"), skm.precision_score(y, yhat, average="macro"))
        close(f"{task} f1", value(js, "f1"), skm.f1_score(y, yhat, average="macro"))
        close(f"{task} balanced_acc", value(js, "balanced_acc"), skm.balanced_accuracy_score(y, yhat))
        close(f"{task} specificity", value(js, "specificity"), r[:, 1].mean())
        close(f"{task} npv", value(js, "npv"), r[:, 3].mean())
        close(f"{task} kappa", value(js, "kappa"), skm.cohen_kappa_score(y, yhat, labels=list(range(k))))
        if task == "ordinal":
            close(f"{task} kappa_quadratic", value(js, "kappa_quadratic"),
                  skm.cohen_kappa_score(y, yhat, labels=list(range(k)), weights="quadratic"))
        onehot = np.eye(k)[y]
        close(f"{task} brier (sum over classes)", value(js, "brier"), ((p - onehot) ** 2).sum(axis=1).mean())
        close(f"{task} ece (top label)", value(js, "ece"), ece_of(p.max(axis=1), (yhat == y).astype(float)))
        expect(js["confusion_matrix"] == cm.tolist(), f"{task} confusion matrix")
        for c in range(k):
            pc = js["per_class"][str(c)]
            close(f"{task} per_class {c} auc", pc["auc"]["value"], skm.roc_auc_score((y == c).astype(int), p[:, c]))
            auc_c, var_c = delong(p[:, c], (y == c).astype(int))
            close(f"{task} per_class {c} auc DeLong ci_low", pc["auc"]["ci_low"], max(0.0, auc_c - 1.959963984540054 * var_c ** 0.5))
            close(f"{task} per_class {c} f1", pc["f1"]["value"], skm.f1_score(y == c, yhat == c))
            expect(pc["support"] == int((y == c).sum()), f"{task} per_class {c} support")
            expect(pc["f1"]["ci_method"].startswith("bootstrap") and pc["f1"]["ci_low"] <= pc["f1"]["value"] <= pc["f1"]["ci_high"],
                   f"{task} per_class {c} f1 has a bootstrap interval around its value ({pc['f1']})")

    # Multilabel (K=3), two-decimal scores.
    n, k = 250, 3
    Y = (rng.random((n, k)) < [0.3, 0.5, 0.2]).astype(int)
    P = np.clip(np.round(rng.normal(0.35 + 0.3 * Y, 0.2), 2), 0, 1)
    header = ["id"] + [f"score_{c}" for c in range(k)]
    rows = [(ids[i], *[repr(float(v)) for v in P[i]]) for i in range(n)]
    truth = [(ids[i], *[int(v) for v in Y[i]]) for i in range(n)]
    js = lucent_metrics("multilabel", rows, header, truth, ["id"] + [f"label_{c}" for c in range(k)], "multilabel",
                        ["--max-fpr", "0.25", "--bootstrap", "100"])
    if js is not None:
        Yhat = (P >= 0.5).astype(int)
        mcm = skm.multilabel_confusion_matrix(Y, Yhat)
        close("multilabel auc (mean per label)", value(js, "auc"), skm.roc_auc_score(Y, P, average="macro"))
        close("multilabel pauc", value(js, "pauc"), skm.roc_auc_score(Y, P, average="macro", max_fpr=0.25))
        close("multilabel pr_auc", value(js, "pr_auc"), skm.average_precision_score(Y, P, average="macro"))
        close("multilabel acc (mean per label)", value(js, "acc"),
              np.mean([skm.accuracy_score(Y[:, c], Yhat[:, c]) for c in range(k)]))
        close("multilabel sensitivity", value(js, "sensitivity"), skm.recall_score(Y, Yhat, average="macro"))
        close("multilabel ppv", value(js, "ppv"), skm.precision_score(Y, Yhat, average="macro"))
        close("multilabel f1", value(js, "f1"), skm.f1_score(Y, Yhat, average="macro"))
        close("multilabel specificity", value(js, "specificity"),
              np.mean([m[0, 0] / (m[0, 0] + m[0, 1]) for m in mcm]))
        close("multilabel npv", value(js, "npv"), np.mean([m[0, 0] / (m[0, 0] + m[1, 0]) for m in mcm]))
        close("multilabel balanced_acc", value(js, "balanced_acc"),
              np.mean([skm.balanced_accuracy_score(Y[:, c], Yhat[:, c]) for c in range(k)]))
        close("multilabel brier", value(js, "brier"),
              np.mean([skm.brier_score_loss(Y[:, c], P[:, c]) for c in range(k)]))
        close("multilabel ece", value(js, "ece"), np.mean([ece_of(P[:, c], Y[:, c]) for c in range(k)]))
        expect(js["confusion_matrix"] == mcm.tolist(), "multilabel confusion matrices")

    # Single class: values null with a reason, exit 0, no NaN in the file.
    js = lucent_metrics("one-class", [(ids[i], 0.1 * i) for i in range(5)], ["id", "score"],
                        [(ids[i], 0) for i in range(5)], ["id", "label"], "binary")
    if js is not None:
        m = js["metrics"]["auc"]
        expect(m["value"] is None and "only one class present" in m.get("reason", ""),
               f"one-class auc is null with a reason ({m})")
        expect("NaN" not in open(os.path.join(WORK, "one-class", "metrics.json")).read(), "one-class: no NaN")

    # Patient column: patients are resampled, DeLong is not used.
    rows = [(ids[i], repr(float(scores[i % 300]))) for i in range(60)]
    truth = [(ids[i], int(i % 4 == 0), f"p{i // 3}") for i in range(60)]
    js = lucent_metrics("patients", rows, ["id", "score"], truth, ["id", "label", "patient"], "binary",
                        ["--patient-column", "patient", "--bootstrap", "200"])
    if js is not None:
        expect(js["bootstrap"]["unit"] == "patient" and js["bootstrap"]["units"] == 20, "patient-level resampling")
        expect(js["metrics"]["auc"]["ci_method"].startswith("bootstrap"), "patient-level AUC interval is a bootstrap")

    bad_inputs()
    print(f"{len(failures)} failure(s)")
    sys.exit(1 if failures else 0)


def bad_inputs():
    d = os.path.join(WORK, "bad")
    os.makedirs(d, exist_ok=True)
    truth = os.path.join(d, "truth.csv")
    open(truth, "w").write("id,label\na,0\nb,1\nc,1\n")
    cases = [
        ("missing id", "id,score\na,0.1\nb,0.2\n", truth, 4, ["truth.csv line 4", "'c'"]),
        ("extra id", "id,score\na,0.1\nb,0.2\nc,0.3\nzz,0.4\n", truth, 4, ["pred.csv line 5", "'zz'"]),
        ("duplicated id", "id,score\na,0.1\nb,0.2\na,0.3\nc,0.3\n", truth, 4, ["pred.csv line 4", "'a'", "duplicated"]),
        ("non-numeric score", "id,score\na,0.1\nb,high\nc,0.3\n", truth, 4, ["pred.csv line 3", "'b'", "high"]),
        ("probability above 1", "id,score\na,0.1\nb,0.2\nc,1.3\n", truth, 4, ["pred.csv line 4", "'c'", "[0, 1]"]),
        ("negative probability", "id,score\na,-0.1\nb,0.2\nc,0.3\n", truth, 4, ["pred.csv line 2", "'a'"]),
        ("empty prediction file", "", truth, 4, ["pred.csv", "empty"]),
        ("header-only prediction file", "id,score\n", truth, 4, ["pred.csv", "no prediction rows"]),
    ]
    for what, pred_text, truth_path, code, fragments in cases:
        pred = os.path.join(d, "pred.csv")
        open(pred, "w").write(pred_text)
        p = run(["--pred", pred, "--truth", truth_path, "--task", "binary", "--out", d, "--bootstrap", "0"])
        expect(p.returncode == code and all(f in p.stderr for f in fragments),
               f"{what}: exit {p.returncode} (want {code}), stderr names {fragments}: {p.stderr.strip()}")
    pred = os.path.join(d, "pred.csv")
    open(pred, "w").write("id,score_0,score_1,score_2\na,0.2,0.3,0.5\nb,0.1,0.1,0.8\nc,0.6,0.2,0.2\n")
    bad_truth = os.path.join(d, "truth3.csv")
    open(bad_truth, "w").write("id,label\na,0\nb,3\nc,1\n")
    p = run(["--pred", pred, "--truth", bad_truth, "--task", "multiclass", "--out", d])
    expect(p.returncode == 4 and "truth3.csv line 3" in p.stderr and "'b'" in p.stderr and "0..2" in p.stderr,
           f"label outside 0..K-1: exit {p.returncode}: {p.stderr.strip()}")
    p = run(["--pred", pred, "--truth", truth, "--task", "multiclass", "--threshold", "0.3", "--out", d])
    expect(p.returncode == 2 and "arg-max" in p.stderr, f"threshold on multiclass: exit {p.returncode}: {p.stderr.strip()}")
    p = run(["--pred", os.path.join(d, "nope.csv"), "--truth", truth, "--task", "binary", "--out", d])
    expect(p.returncode == 3 and "nope.csv" in p.stderr, f"missing file: exit {p.returncode}: {p.stderr.strip()}")
    p = run(["--pred", pred, "--truth", truth, "--task", "regression"])
    expect(p.returncode == 2, f"unknown task: exit {p.returncode}")
    expect(not os.path.exists(os.path.join(d, "metrics.json")), "no metrics.json is left after failures")


if __name__ == "__main__":
    main()
