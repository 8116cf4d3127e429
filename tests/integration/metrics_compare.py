#!/usr/bin/python3
"""`lucent metrics --subgroup`, `lucent compare` and `lucent agreement` against references:
scikit-learn for the per-subgroup metrics and Cohen's kappa, SciPy for McNemar (binomial and
chi-square tails), NumPy transcriptions of DeLong's paired test (the O(m n) definition) and of
Fleiss' kappa (the textbook formula). Every deterministic value must agree to 1e-9; bootstrap
values are checked for shape (interval around the estimate, p in (0, 1]). Then bad input: each
fails with its error code's exit code and a message naming the file, line, id or column.
Runs with Debian's python3 (numpy, scikit-learn, scipy); skips (77) without them."""
import json
import os
import subprocess
import sys
import tempfile
import warnings

try:
    import numpy as np
    from scipy import stats
    from sklearn import metrics as skm
except ImportError as e:  # pragma: no cover
    print(f"SKIP: needs numpy, scipy and scikit-learn (apt install python3-sklearn python3-scipy): {e}")
    sys.exit(77)

warnings.filterwarnings("ignore")
LUCENT = os.environ.get("LUCENT_BIN")
if not LUCENT or not os.path.exists(LUCENT):
    print("SKIP: LUCENT_BIN does not point at the lucent binary")
    sys.exit(77)

TOL = 1e-9
Z95 = 1.959963984540054
failures = []
WORK = tempfile.mkdtemp(prefix="lucent-compare-")


def expect(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def close(name, got, want):
    expect(got is not None and abs(got - want) <= TOL, f"{name}: lucent {got!r} vs reference {want!r}")


def write(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(str(x) for x in r) + "\n")


def lucent(*args):
    return subprocess.run([LUCENT, *args], capture_output=True, text=True)


def delong_paired(a, b, y):
    """DeLong 1988 from its definition: structural components by explicit pairwise comparison."""
    def comps(s):
        pos, neg = s[y == 1], s[y == 0]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        return psi.mean(), psi.mean(axis=1), psi.mean(axis=0)
    auc_a, v10a, v01a = comps(a)
    auc_b, v10b, v01b = comps(b)
    s10 = np.cov(np.vstack([v10a, v10b]))
    s01 = np.cov(np.vstack([v01a, v01b]))
    m, n = len(v10a), len(v01a)
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    diff = auc_a - auc_b
    z = diff / np.sqrt(var)
    return auc_a, auc_b, diff, var, z, 2 * stats.norm.sf(abs(z))


def mcnemar_reference(b, c):
    if b + c < 25:
        return min(1.0, 2 * stats.binom.cdf(min(b, c), b + c, 0.5))
    return stats.chi2.sf((abs(b - c) - 1) ** 2 / (b + c), 1)


def fleiss(ratings, k):
    n_raters = ratings.shape[1]
    counts = np.stack([(ratings == j).sum(axis=1) for j in range(k)], axis=1)
    p_i = ((counts ** 2).sum(axis=1) - n_raters) / (n_raters * (n_raters - 1))
    p_j = counts.sum(axis=0) / counts.sum()
    pe = (p_j ** 2).sum()
    return (p_i.mean() - pe) / (1 - pe)


rng = np.random.default_rng(20261126)
N = 360
ids = [f"case{i:04d}" for i in range(N)]
y = (rng.random(N) < 0.4).astype(int)
sex = np.where(rng.random(N) < 0.5, "F", "M")
site = np.array([f"site{k}" for k in rng.integers(0, 3, N)])
site[:12] = "tiny"                                        # a subgroup below --min-subgroup
shift = np.where(site == "site2", 0.1, 0.25)               # the model is worse at site2
a = np.clip(np.round(rng.normal(0.35 + shift * y, 0.2), 2), 0, 1)
b = np.clip(np.round(rng.normal(0.38 + 0.15 * y, 0.22), 2), 0, 1)
order = rng.permutation(N)


def subgroups():
    d = os.path.join(WORK, "subgroups")
    os.makedirs(d, exist_ok=True)
    truth, pred = os.path.join(d, "truth.csv"), os.path.join(d, "a.csv")
    write(truth, ["id", "label", "sex", "site"], [(ids[i], y[i], sex[i], site[i]) for i in range(N)])
    write(pred, ["id", "score"], [(ids[i], repr(float(a[i]))) for i in order])
    p = lucent("metrics", "--pred", pred, "--truth", truth, "--task", "binary", "--threshold", "0.45",
               "--subgroup", "sex", "--subgroup", "site", "--bootstrap", "300", "--out", d)
    expect(p.returncode == 0, f"metrics --subgroup exits 0 ({p.stderr.strip()[:300]})")
    if p.returncode != 0:
        return
    js = json.load(open(os.path.join(d, "metrics.json")))
    yhat = (a >= 0.45).astype(int)
    for column, values in (("sex", sex), ("site", site)):
        groups = js["subgroups"][column]
        audit = js["subgroup_audit"]["columns"][column]
        ranked = {}
        for v in sorted(set(values)):
            m = values == v
            g = groups[v]
            expect(g["n"] == int(m.sum()) and g["positives"] == int(y[m].sum()), f"{column}={v}: n and positives")
            if v == "tiny":
                expect(g["status"] == "too_small" and "metrics" not in g and v in audit["too_small"],
                       f"{column}={v}: too small, not evaluated, not ranked ({g.get('reason')})")
                continue
            ranked[v] = m
            gm = g["metrics"]
            close(f"{column}={v} auc", gm["auc"]["value"], skm.roc_auc_score(y[m], a[m]))
            close(f"{column}={v} sensitivity", gm["sensitivity"]["value"], skm.recall_score(y[m], yhat[m]))
            close(f"{column}={v} specificity", gm["specificity"]["value"], skm.recall_score(y[m], yhat[m], pos_label=0))
            close(f"{column}={v} f1", gm["f1"]["value"], skm.f1_score(y[m], yhat[m]))
            close(f"{column}={v} brier", gm["brier"]["value"], skm.brier_score_loss(y[m], a[m]))
            expect(gm["auc"]["ci_method"] == "delong" and gm["f1"]["ci_low"] <= gm["f1"]["value"] <= gm["f1"]["ci_high"],
                   f"{column}={v}: intervals (DeLong AUC, bootstrap F1)")
        aucs = {v: skm.roc_auc_score(y[m], a[m]) for v, m in ranked.items()}
        close(f"{column} largest auc gap", audit["largest_gap"]["auc"]["gap"], max(aucs.values()) - min(aucs.values()))
        expect(audit["largest_gap"]["auc"]["lowest"]["subgroup"] == min(aucs, key=aucs.get), f"{column}: lowest auc group")
        tpr = {v: skm.recall_score(y[m], yhat[m]) for v, m in ranked.items()}
        fpr = {v: 1 - skm.recall_score(y[m], yhat[m], pos_label=0) for v, m in ranked.items()}
        eo = audit["equalised_odds"]
        close(f"{column} TPR gap", eo["tpr_gap"], max(tpr.values()) - min(tpr.values()))
        close(f"{column} FPR gap", eo["fpr_gap"], max(fpr.values()) - min(fpr.values()))
        close(f"{column} equalised odds difference", eo["difference"],
              max(max(tpr.values()) - min(tpr.values()), max(fpr.values()) - min(fpr.values())))
        overall = js["metrics"]
        for flag in audit["below_overall"]:
            g = groups[flag["subgroup"]]["metrics"][flag["metric"]]
            expect(g["ci_high"] < overall[flag["metric"]]["value"] if flag["metric"] not in ("brier", "ece")
                   else g["ci_low"] > overall[flag["metric"]]["value"], f"{column}: flag {flag} is consistent")
    expect(any(f["subgroup"] == "site2" and f["metric"] == "auc" for f in js["subgroup_audit"]["columns"]["site"]["below_overall"]),
           "site2 (the weaker site) is flagged below the overall AUC")


def compare():
    d = os.path.join(WORK, "compare")
    os.makedirs(d, exist_ok=True)
    truth, pa, pb = (os.path.join(d, f) for f in ("truth.csv", "a.csv", "b.csv"))
    write(truth, ["id", "label", "patient"], [(ids[i], y[i], f"p{i // 2}") for i in range(N)])
    write(pa, ["id", "score"], [(ids[i], repr(float(a[i]))) for i in order])
    write(pb, ["id", "score_0", "score_1", "predicted"], [(ids[i], repr(1 - float(b[i])), repr(float(b[i])), "x") for i in range(N)])
    p = lucent("compare", "--pred", pa, "--pred", pb, "--truth", truth, "--task", "binary", "--bootstrap", "400",
               "--seed", "3", "--out", d)
    expect(p.returncode == 0, f"compare exits 0 ({p.stderr.strip()[:300]})")
    if p.returncode != 0:
        return
    js = json.load(open(os.path.join(d, "compare.json")))
    auc_a, auc_b, diff, var, z, pval = delong_paired(a, b, y)
    dl = js["delong"]
    close("DeLong auc_a", dl["auc_a"], auc_a)
    close("DeLong auc_b", dl["auc_b"], auc_b)
    close("DeLong difference", dl["difference"], diff)
    close("DeLong variance", dl["variance"], var)
    close("DeLong z", dl["z"], z)
    close("DeLong p", dl["p_value"], pval)
    close("DeLong ci_low", dl["ci_low"], diff - Z95 * np.sqrt(var))
    ra, rb = (a >= 0.5) == y, (b >= 0.5) == y
    nb, nc = int((ra & ~rb).sum()), int((~ra & rb).sum())
    mc = js["mcnemar"]
    expect(mc["a_right_b_wrong"] == nb and mc["a_wrong_b_right"] == nc, f"McNemar discordant counts {nb}, {nc}")
    expect(mc["method"] == ("exact_binomial" if nb + nc < 25 else "chi_square_continuity_corrected"), "McNemar method")
    close("McNemar p", mc["p_value"], mcnemar_reference(nb, nc))
    for name, fn in (("acc", lambda s: skm.accuracy_score(y, s >= 0.5)), ("f1", lambda s: skm.f1_score(y, s >= 0.5)),
                     ("auc", lambda s: skm.roc_auc_score(y, s)), ("brier", lambda s: skm.brier_score_loss(y, s))):
        m = js["metrics"][name]
        close(f"paired {name} a", m["a"], fn(a))
        close(f"paired {name} difference", m["difference"], fn(a) - fn(b))
        expect(m["ci_method"] == "paired_bootstrap_bca" and m["ci_low"] <= m["difference"] <= m["ci_high"]
               and 0 < m["p_value"] <= 1, f"paired {name}: interval around the difference, p in (0, 1] ({m})")
    # Small samples: the exact McNemar branch against scipy's binomial tail.
    small = 40
    write(os.path.join(d, "truth_small.csv"), ["id", "label"], [(ids[i], y[i]) for i in range(small)])
    p = lucent("compare", "--pred", pa, "--pred", pb, "--truth", os.path.join(d, "truth_small.csv"), "--task", "binary",
               "--bootstrap", "0", "--out", d)
    expect(p.returncode != 0 and "not in" in p.stderr, f"compare: a prediction id missing from the truth fails: {p.stderr.strip()}")
    write(os.path.join(d, "a_small.csv"), ["id", "score"], [(ids[i], repr(float(a[i]))) for i in range(small)])
    write(os.path.join(d, "b_small.csv"), ["id", "score"], [(ids[i], repr(float(b[i]))) for i in range(small)])
    p = lucent("compare", "--pred", os.path.join(d, "a_small.csv"), "--pred", os.path.join(d, "b_small.csv"),
               "--truth", os.path.join(d, "truth_small.csv"), "--task", "binary", "--bootstrap", "0", "--out", d)
    if p.returncode == 0:
        mc = json.load(open(os.path.join(d, "compare.json")))["mcnemar"]
        ra, rb = ra[:small], rb[:small]
        nb, nc = int((ra & ~rb).sum()), int((~ra & rb).sum())
        expect(mc["method"] == "exact_binomial", f"small sample: exact McNemar ({nb + nc} discordant)")
        close("exact McNemar p", mc["p_value"], mcnemar_reference(nb, nc))
    else:
        expect(False, f"small compare exits 0 ({p.stderr.strip()})")
    # Patient column: DeLong is replaced by the patient-level paired bootstrap.
    p = lucent("compare", "--pred", pa, "--pred", pb, "--truth", truth, "--task", "binary", "--bootstrap", "200",
               "--patient-column", "patient", "--out", d)
    js = json.load(open(os.path.join(d, "compare.json"))) if p.returncode == 0 else None
    expect(js is not None and js["delong"]["p_value"] is None and js["bootstrap"]["units"] == N // 2,
           "patient column: no DeLong, patients resampled")


def agreement():
    d = os.path.join(WORK, "agreement")
    os.makedirs(d, exist_ok=True)
    k = 4
    flips = rng.random((N, k)) < np.array([0.08, 0.12, 0.15, 0.2])
    R = np.where(flips, 1 - y[:, None], y[:, None])
    write(os.path.join(d, "r.csv"), ["id"] + [f"reader_{j + 1}" for j in range(k)],
          [(ids[i], *R[i]) for i in range(N)])
    write(os.path.join(d, "pred.csv"), ["id", "score"], [(ids[i], repr(float(a[i]))) for i in order])
    p = lucent("agreement", "--ratings", os.path.join(d, "r.csv"), "--model", os.path.join(d, "pred.csv"),
               "--threshold", "0.45", "--bootstrap", "300", "--out", d)
    expect(p.returncode == 0, f"agreement exits 0 ({p.stderr.strip()[:300]})")
    if p.returncode != 0:
        return
    js = json.load(open(os.path.join(d, "agreement.json")))
    close("Fleiss' kappa", js["fleiss_kappa"]["value"], fleiss(R, 2))
    for pair in js["cohen_kappa"]:
        ja, jb = int(pair["reader_a"].split("_")[1]) - 1, int(pair["reader_b"].split("_")[1]) - 1
        close(f"Cohen's kappa {pair['reader_a']}/{pair['reader_b']}", pair["kappa"]["value"],
              skm.cohen_kappa_score(R[:, ja], R[:, jb]))
    model = (a >= 0.45).astype(int)
    reader_f1, model_f1, reader_k, model_k = [], [], [], []
    for j in range(k):
        others = np.delete(R, j, axis=1)
        g = (others.sum(axis=1) * 2 >= others.shape[1]).astype(int)  # majority, ties positive
        reader_f1.append(skm.f1_score(g, R[:, j]))
        reader_k.append(skm.cohen_kappa_score(g, R[:, j]))
        model_f1.append(skm.f1_score(g, model))
        model_k.append(skm.cohen_kappa_score(g, model))
        close(f"reader_{j + 1} F1 vs the other readers", js["versus_other_readers"]["readers"][f"reader_{j + 1}"]["f1"]["value"],
              reader_f1[-1])
    v = js["versus_other_readers"]
    close("model F1 (mean over leave-one-out majorities)", v["model"]["f1"]["value"], np.mean(model_f1))
    close("model kappa", v["model"]["kappa"]["value"], np.mean(model_k))
    close("model - mean reader F1", v["model_minus_mean_reader"]["f1"]["value"], np.mean(model_f1) - np.mean(reader_f1))
    m = v["model_minus_mean_reader"]["f1"]
    expect(m["ci_low"] <= m["value"] <= m["ci_high"], f"model - mean reader F1 has an interval around it ({m})")


def bad_inputs():
    d = os.path.join(WORK, "bad")
    os.makedirs(d, exist_ok=True)
    truth = os.path.join(d, "truth.csv")
    open(truth, "w").write("id,label,sex\na,0,F\nb,1,M\nc,1,F\nd,0,M\n")
    good = os.path.join(d, "good.csv")
    open(good, "w").write("id,score\na,0.1\nb,0.8\nc,0.7\nd,0.3\n")

    def case(what, args, code, fragments):
        p = lucent(*args)
        expect(p.returncode == code and all(f in p.stderr for f in fragments),
               f"{what}: exit {p.returncode} (want {code}), stderr names {fragments}: {p.stderr.strip()}")

    bad = os.path.join(d, "bad.csv")
    open(bad, "w").write("id,score\na,0.1\nb,0.8\nd,0.3\n")
    case("compare: an id missing from B", ["compare", "--pred", good, "--pred", bad, "--truth", truth, "--task", "binary",
                                          "--out", d], 4, ["truth.csv line 4", "'c'", "bad.csv"])
    open(bad, "w").write("id,score\na,0.1\nb,0.8\nc,0.7\nc,0.7\nd,0.3\n")
    case("compare: a duplicated id in B", ["compare", "--pred", good, "--pred", bad, "--truth", truth, "--task", "binary",
                                          "--out", d], 4, ["bad.csv line 5", "'c'", "duplicated"])
    open(bad, "w").write("id,score\na,0.1\nb,high\nc,0.7\nd,0.3\n")
    case("compare: a non-numeric score", ["compare", "--pred", good, "--pred", bad, "--truth", truth, "--task", "binary",
                                         "--out", d], 4, ["bad.csv line 3", "'b'", "'high'"])
    open(bad, "w").write("")
    case("compare: an empty prediction file", ["compare", "--pred", good, "--pred", bad, "--truth", truth, "--task",
                                              "binary", "--out", d], 4, ["bad.csv"])
    case("compare: one prediction file", ["compare", "--pred", good, "--truth", truth, "--task", "binary", "--out", d], 2,
         ["exactly two"])
    case("metrics: a subgroup column that does not exist",
         ["metrics", "--pred", good, "--truth", truth, "--task", "binary", "--subgroup", "site", "--out", d], 2,
         ["--subgroup 'site'", "truth.csv", "id, label, sex"])
    ratings = os.path.join(d, "r.csv")
    open(ratings, "w").write("id,reader_1,reader_2\na,1,0\nb,1,maybe\n")
    case("agreement: a rating that is not a category", ["agreement", "--ratings", ratings, "--out", d], 4,
         ["r.csv line 3", "'b'", "reader_2", "'maybe'"])
    open(ratings, "w").write("")
    case("agreement: an empty ratings file", ["agreement", "--ratings", ratings, "--out", d], 4, ["r.csv"])
    open(ratings, "w").write("id,reader_1,reader_2\na,1,0\nb,1,1\nc,0,0\nd,0,1\n")
    open(bad, "w").write("id,score\na,0.1\nb,0.8\nc,0.7\n")
    case("agreement: a rated case without a prediction", ["agreement", "--ratings", ratings, "--model", bad, "--out", d],
         4, ["bad.csv", "'d'"])
    expect(not any(os.path.exists(os.path.join(d, f)) for f in ("metrics.json", "compare.json", "agreement.json")),
           "nothing is written when a command fails")


def main():
    subgroups()
    compare()
    agreement()
    bad_inputs()
    print(f"{len(failures)} failure(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
