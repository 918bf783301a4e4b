#!/usr/bin/env python3
"""Reference values for engine/tests/stats_reference.rs, computed independently of the
Rust code with SciPy and statsmodels.

    pip install scipy numpy statsmodels
    python3 engine/tests/stats_reference.py            # print the table
    python3 engine/tests/stats_reference.py --update   # rewrite it in stats_reference.rs

The table goes between the `// BEGIN GENERATED` and `// END GENERATED` lines of
stats_reference.rs (marked `#[rustfmt::skip]`, so `cargo fmt` leaves it as printed).
Sources, per field:

- rate_ci95: statsmodels `proportion_confint(method="wilson")`
- z, p_value (conversion): statsmodels `proportions_ztest` (pooled variance)
- diff_ci95 (conversion): statsmodels `confint_proportions_2indep(method="wald")`
- prob_beats_control (conversion): `scipy.integrate.quad` of Beta pdf x Beta cdf (or sf),
  checked here against Evan Miller's exact sum to 1e-9
- srm_p: `scipy.stats.chisquare`
- mean_ci95: `scipy.stats.t.interval`
- t, p_value (numeric): `scipy.stats.ttest_ind_from_stats(equal_var=False)`; df by the
  Welch-Satterthwaite formula, checked against that p-value
- lift_ci95, numeric diff_ci95 and prob_beats_control, always_valid_p: the formulas,
  written out here with scipy's quantiles and tails
"""
import math
import pathlib
import sys

import numpy as np
from scipy import integrate, special, stats
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportions_ztest,
)

Z = stats.norm.ppf(0.975)

# (label, direction, tau, arms); arm = (name, weight, n, conversions) or
# (name, weight, n, mean, sd). The first arm is the control.
CASES = [
    ("tiny", "increase", 0.05, [("a", 1, 7, 3), ("b", 1, 8, 5)]),
    ("zero_conversion_arm", "increase", 0.05, [("a", 1, 250, 12), ("b", 1, 240, 0)]),
    ("unequal_arms", "increase", 0.05, [("a", 4, 1200, 138), ("b", 1, 300, 45)]),
    (
        "three_arms",
        "increase",
        0.05,
        [("a", 1, 1000, 100), ("b", 1, 1000, 130), ("c", 1, 1000, 85)],
    ),
    ("large", "increase", 0.01, [("a", 1, 50000, 5000), ("b", 1, 50000, 5210)]),
    ("srm", "increase", 0.05, [("a", 50, 5200, 520), ("b", 50, 4800, 600)]),
    ("opt_out_rate", "decrease", 0.02, [("a", 1, 4000, 80), ("b", 1, 4000, 52)]),
    (
        "welch",
        "increase",
        2.0,
        [("a", 1, 40, 12.5, 4.1), ("b", 1, 35, 14.2, 6.3)],
    ),
    (
        "welch_three_unequal",
        "decrease",
        0.5,
        [("a", 5, 800, 3.2, 2.5), ("b", 1, 150, 2.9, 1.1), ("c", 4, 640, 3.5, 2.7)],
    ),
]


def beta_region(a, b):
    return stats.beta.ppf(1e-16, a, b), stats.beta.isf(1e-16, a, b)


def prob_beats_quad(t, c, higher):
    """P(T > C) (higher) or P(T < C) by quad over where both posteriors have mass."""
    t_lo, t_hi = beta_region(*t)
    c_lo, c_hi = beta_region(*c)
    if higher:
        lo, hi = max(t_lo, c_lo), t_hi

        def f(x):
            return stats.beta.pdf(x, *t) * stats.beta.cdf(x, *c)
    else:
        lo, hi = t_lo, min(t_hi, c_hi)

        def f(x):
            return stats.beta.pdf(x, *t) * stats.beta.sf(x, *c)

    if lo >= hi:
        return 0.0
    points = sorted(p for p in np.linspace(t_lo, t_hi, 9).tolist() + np.linspace(c_lo, c_hi, 9).tolist() if lo < p < hi)
    value, _ = integrate.quad(f, lo, hi, points=points, epsabs=1e-15, epsrel=1e-13, limit=2000)
    return value


def prob_beats_exact(t, c):
    """Evan Miller: P(p_T > p_C) = sum_{i < alpha_T} B(alpha_C+i, beta_C+beta_T) /
    ((beta_T+i) B(1+i, beta_T) B(alpha_C, beta_C)), for integer parameters."""
    (at, bt), (ac, bc) = t, c
    i = np.arange(int(at), dtype=float)
    terms = np.exp(
        special.betaln(ac + i, bc + bt) - np.log(bt + i) - special.betaln(1 + i, bt) - special.betaln(ac, bc)
    )
    return math.fsum(terms)


def always_valid(theta, v, tau):
    if v <= 0:
        return None
    ln_lambda = 0.5 * math.log(v / (v + tau * tau)) + tau * tau * theta * theta / (2 * v * (v + tau * tau))
    return min(1.0, math.exp(-ln_lambda))


def empty_result():
    return dict.fromkeys(
        [
            "rate",
            "rate_ci95",
            "z",
            "mean_ci95",
            "t",
            "df",
            "p_value",
            "diff",
            "diff_ci95",
            "lift",
            "lift_ci95",
            "prob_beats_control",
            "always_valid_p",
        ]
    )


def lift_interval(lift, var):
    if var <= 0:
        return None
    half = Z * math.sqrt(var)
    return (lift - half, lift + half)


def conversion_case(direction, tau, arms):
    results = []
    _, _, nc, xc = arms[0]
    pc = xc / nc
    for i, (_, _, n, x) in enumerate(arms):
        r = empty_result()
        r["rate"] = x / n
        lo, hi = proportion_confint(x, n, alpha=0.05, method="wilson")
        r["rate_ci95"] = (float(lo), float(hi))
        if i > 0:
            pt = x / n
            z, p = proportions_ztest([x, xc], [n, nc])
            r["z"], r["p_value"] = float(z), float(p)
            r["diff"] = pt - pc
            lo, hi = confint_proportions_2indep(x, n, xc, nc, method="wald", compare="diff")
            r["diff_ci95"] = (float(lo), float(hi))
            if pc > 0:
                r["lift"] = (pt - pc) / pc
                var = pt * (1 - pt) / (pc**2 * n) + pc * (1 - pc) * pt**2 / (pc**4 * nc)
                r["lift_ci95"] = lift_interval(r["lift"], var)
            post_t, post_c = (1 + x, 1 + n - x), (1 + xc, 1 + nc - xc)
            higher = direction == "increase"
            quad = prob_beats_quad(post_t, post_c, higher)
            exact = prob_beats_exact(post_t, post_c)
            exact = exact if higher else 1 - exact
            assert abs(quad - exact) < 1e-9, (quad, exact)
            r["prob_beats_control"] = quad
            v = pc * (1 - pc) / nc + pt * (1 - pt) / n
            r["always_valid_p"] = always_valid(pt - pc, v, tau)
        results.append(r)
    return results


def numeric_case(direction, tau, arms):
    results = []
    _, _, nc, mc, sc = arms[0]
    for i, (_, _, n, m, s) in enumerate(arms):
        r = empty_result()
        lo, hi = stats.t.interval(0.95, n - 1, loc=m, scale=s / math.sqrt(n))
        r["mean_ci95"] = (float(lo), float(hi))
        if i > 0:
            res = stats.ttest_ind_from_stats(m, s, n, mc, sc, nc, equal_var=False)
            vt, vc = s * s / n, sc * sc / nc
            se = math.sqrt(vt + vc)
            df = (vt + vc) ** 2 / (vt**2 / (n - 1) + vc**2 / (nc - 1))
            assert abs(2 * stats.t.sf(abs(res.statistic), df) - res.pvalue) < 1e-12 * res.pvalue
            r["t"], r["p_value"], r["df"] = float(res.statistic), float(res.pvalue), df
            diff = m - mc
            r["diff"] = diff
            q = stats.t.ppf(0.975, df)
            r["diff_ci95"] = (diff - q * se, diff + q * se)
            r["lift"] = diff / mc
            var = s * s / (mc**2 * n) + sc * sc * m * m / (mc**4 * nc)
            r["lift_ci95"] = lift_interval(r["lift"], var)
            signed = diff if direction == "increase" else -diff
            r["prob_beats_control"] = float(stats.norm.cdf(signed / se))
            r["always_valid_p"] = always_valid(diff, vt + vc, tau)
        results.append(r)
    return results


def srm_p(arms):
    ns = [a[2] for a in arms]
    weights = [a[1] for a in arms]
    total = sum(ns)
    expected = [w / sum(weights) * total for w in weights]
    return float(stats.chisquare(ns, f_exp=expected).pvalue)


def lit(v):
    if v is None:
        return "None"
    if isinstance(v, tuple):
        return f"Some([{lit1(v[0])}, {lit1(v[1])}])"
    return f"Some({lit1(v)})"


def lit1(v):
    v = float(v)
    assert math.isfinite(v), v
    s = repr(v)
    return s if ("." in s or "e" in s) else s + ".0"


def table():
    out = ["#[rustfmt::skip]", "const CASES: &[RefCase] = &["]
    for label, direction, tau, arms in CASES:
        numeric = len(arms[0]) == 5
        results = (numeric_case if numeric else conversion_case)(direction, tau, arms)
        out.append("    RefCase {")
        out.append(f'        label: "{label}",')
        out.append(f"        decrease: {'true' if direction == 'decrease' else 'false'},")
        out.append(f"        tau: {lit1(tau)},")
        out.append(f"        srm_p: {lit(srm_p(arms))},")
        out.append("        arms: &[")
        for arm in arms:
            name, weight, n = arm[:3]
            if numeric:
                extra = f"conversions: None, mean: Some({lit1(arm[3])}), sd: Some({lit1(arm[4])})"
            else:
                extra = f"conversions: Some({arm[3]}), mean: None, sd: None"
            out.append(f'            RefArm {{ name: "{name}", weight: {lit1(weight)}, n: {n}, {extra} }},')
        out.append("        ],")
        out.append("        results: &[")
        for r in results:
            out.append("            RefResult {")
            for key, value in r.items():
                out.append(f"                {key}: {lit(value)},")
            out.append("            },")
        out.append("        ],")
        out.append("    },")
    out.append("];")
    return "\n".join(out) + "\n"


def main():
    text = table()
    if sys.argv[1:] == ["--update"]:
        path = pathlib.Path(__file__).with_name("stats_reference.rs")
        source = path.read_text()
        begin = source.index("// BEGIN GENERATED")
        begin = source.index("\n", begin) + 1
        end = source.index("// END GENERATED")
        path.write_text(source[:begin] + text + source[end:])
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
