"""Paths of SGD, momentum, RMSprop and Adam on two 2-D functions (docs/math/optimizers.md).

Run from anywhere: ``python docs/figures/optimizer_paths.py`` writes
``optimizer_paths.png`` next to this script. Deterministic (no randomness): each optimizer
is the library's own (``optim.SGD``, ``optim.RMSprop``, ``optim.Adam``) stepping one
``nn.Parameter`` of shape (2,), with the gradient written by hand below.

Left: an ill-conditioned quadratic f(x, y) = ½(x² + κ y²), κ = 25. Its curvature along y
is 25 times that along x, so one learning rate cannot suit both: SGD must keep lr < 2/κ
and then crawls along x while zig-zagging in y; momentum builds speed along the valley;
RMSprop and Adam divide each coordinate by its own gradient scale.
Right: Rosenbrock's f(x, y) = (1 - x)² + 100 (y - x²)², a curved narrow valley with its
minimum at (1, 1).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # use this checkout's nn and optim

import nn  # noqa: E402
import optim  # noqa: E402

KAPPA = 25.0


def quadratic(p: np.ndarray) -> tuple[float, np.ndarray]:
    """f = ½(x² + κ y²) and its gradient (x, κ y)."""
    x, y = p
    return 0.5 * (x * x + KAPPA * y * y), np.array([x, KAPPA * y])


def rosenbrock(p: np.ndarray) -> tuple[float, np.ndarray]:
    """f = (1 - x)² + 100 (y - x²)²; ∂f/∂x = -2(1 - x) - 400 x (y - x²), ∂f/∂y = 200 (y - x²)."""
    x, y = p
    r = y - x * x
    return (1 - x) ** 2 + 100 * r * r, np.array([-2 * (1 - x) - 400 * x * r, 200 * r])


def path(fn, start, make_opt, steps: int) -> np.ndarray:
    """The sequence of points visited by ``make_opt`` from ``start`` (steps + 1, 2)."""
    p = nn.Parameter(np.array(start, dtype=np.float64))
    opt = make_opt([p])
    points = [p.data.copy()]
    for _ in range(steps):
        opt.zero_grad()
        _, g = fn(p.data)
        p.grad[...] = g
        opt.step()
        points.append(p.data.copy())
    return np.array(points)


PROBLEMS = [
    dict(title=f"ill-conditioned quadratic ½(x² + {KAPPA:g}y²), 60 steps", fn=quadratic,
         start=(-4.5, 1.2), steps=60, minimum=(0.0, 0.0), box=(-5, 1.5, -1.6, 1.6),
         levels=np.geomspace(0.02, 40, 12),
         opts={
             "SGD lr=0.075": lambda ps: optim.SGD(ps, lr=0.075),
             "momentum lr=0.02, μ=0.8": lambda ps: optim.Momentum(ps, lr=0.02, momentum=0.8),
             "RMSprop lr=0.1": lambda ps: optim.RMSprop(ps, lr=0.1),
             "Adam lr=0.2": lambda ps: optim.Adam(ps, lr=0.2),
         }),
    dict(title="Rosenbrock (1-x)² + 100(y-x²)², 1000 steps", fn=rosenbrock,
         start=(-1.5, 2.0), steps=1000, minimum=(1.0, 1.0), box=(-2, 1.6, -0.4, 2.8),
         levels=np.geomspace(0.05, 2000, 14),
         opts={
             "SGD lr=8e-4": lambda ps: optim.SGD(ps, lr=8e-4),
             "momentum lr=4e-4, μ=0.9": lambda ps: optim.Momentum(ps, lr=4e-4, momentum=0.9),
             "RMSprop lr=3e-3": lambda ps: optim.RMSprop(ps, lr=3e-3),
             "Adam lr=0.02": lambda ps: optim.Adam(ps, lr=0.02),
         }),
]
COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
WIDTHS = [3.0, 2.2, 1.6, 1.1]  # wide to narrow, so overlapping paths stay visible


OUT = Path(__file__).with_suffix(".png")


def main(out: Path = OUT) -> Path:
    """Draw both panels and save the PNG to ``out``; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 6.6))
    for ax, prob in zip(axes, PROBLEMS):
        x0, x1, y0, y1 = prob["box"]
        X, Y = np.meshgrid(np.linspace(x0, x1, 400), np.linspace(y0, y1, 400))
        Z = np.array([prob["fn"](np.array([a, b]))[0] for a, b in zip(X.ravel(), Y.ravel())])
        ax.contour(X, Y, Z.reshape(X.shape), levels=prob["levels"], colors="0.75",
                   linewidths=0.8)
        for color, lw, (label, make) in zip(COLORS, WIDTHS, prob["opts"].items()):
            pts = path(prob["fn"], prob["start"], make, prob["steps"])
            final = prob["fn"](pts[-1])[0]
            ax.plot(pts[:, 0], pts[:, 1], "-", color=color, lw=lw, alpha=0.85,
                    label=f"{label}  (final f = {final:.1e})")
            every = max(1, prob["steps"] // 50)  # a dot every `every` steps shows the speed
            ax.plot(pts[::every, 0], pts[::every, 1], "o", color=color, ms=3)
            ax.plot(*pts[-1], "o", color=color, ms=8, mec="k")  # where it ended
        ax.plot(*prob["start"], "ks", ms=6, label="start")
        ax.plot(*prob["minimum"], "k*", ms=12, label="minimum")
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_title(prob["title"])
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.11), ncol=2, fontsize=8.5,
                  frameon=False)
    fig.suptitle("Optimizer paths (optim.SGD, optim.Momentum, optim.RMSprop, optim.Adam)")
    fig.tight_layout()
    fig.savefig(out, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return out


if __name__ == "__main__":
    print(main())
