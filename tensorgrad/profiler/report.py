"""Reports of a memory profile: text tables (saved bytes by op and by module), markdown tables, and PNGs
(memory timeline; memory vs step-time Pareto curve) drawn with matplotlib's Agg backend."""


def fmt_bytes(n):
    n = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GB"


def _table(headers, rows):
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    for r in cells:
        out.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(out)


def format_report(prof, depth=None, top=20):
    """Peak live / saved bytes, then saved-for-backward bytes by op and by module (largest first)."""
    lines = [f"device {prof.device}: peak live {fmt_bytes(prof.peak_bytes)} (row {prof.peak_index}), "
             f"peak saved for backward {fmt_bytes(prof.peak_saved_bytes)} (row {prof.peak_saved_index}), "
             f"{len(prof.timeline)} rows", ""]
    ops = sorted(prof.by_op.items(), key=lambda kv: -kv[1][0])[:top]
    lines.append(_table(["op", "saved bytes", "calls"], [(k, fmt_bytes(b), n) for k, (b, n) in ops]))
    lines.append("")
    mods = sorted(prof.module_totals(depth).items(), key=lambda kv: -kv[1][0])[:top]
    lines.append(_table(["module", "saved bytes", "ops"], [(k, fmt_bytes(b), n) for k, (b, n) in mods]))
    return "\n".join(lines)


def markdown_table(headers, rows):
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_timeline(path, timelines, title="memory timeline"):
    """timelines: {label: [Row, ...]}. Live bytes (solid) and saved-for-backward bytes (dashed) in MB
    against the event index; the backward phase starts at each curve's first 'bwd' row (dotted line)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 5.5))
    for i, (label, rows) in enumerate(timelines.items()):
        c = f"C{i % 10}"
        x = [r.index for r in rows]
        ax.plot(x, [r.live_bytes / 2 ** 20 for r in rows], color=c, lw=1.4, label=f"{label}: live")
        ax.plot(x, [r.saved_bytes / 2 ** 20 for r in rows], color=c, lw=1.0, ls="--", label=f"{label}: saved")
        b = next((r.index for r in rows if r.phase == "bwd"), None)
        if b is not None:
            ax.axvline(b, color=c, ls=":", lw=0.8)
    ax.set_xlabel("event (op forward / node backward)")
    ax.set_ylabel("MB")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_pareto(path, points, title="memory vs step time"):
    """points: [(label, step_time_s, peak_bytes, activation_bytes)]. Peak and activation MB against step
    time; the Pareto-optimal points (no other is both faster and smaller at the peak) are joined."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    xs = [p[1] * 1e3 for p in points]
    ax.scatter(xs, [p[2] / 2 ** 20 for p in points], color="C0", label="peak live")
    ax.scatter(xs, [p[3] / 2 ** 20 for p in points], color="C1", marker="s", label="peak saved (activations)")
    for p, x in zip(points, xs):
        ax.annotate(p[0], (x, p[2] / 2 ** 20), fontsize=7, xytext=(4, 4), textcoords="offset points")
    front, best = [], float("inf")
    for p in sorted(points, key=lambda p: (p[1], p[2])):
        if p[2] < best:
            front.append(p)
            best = p[2]
    ax.plot([p[1] * 1e3 for p in front], [p[2] / 2 ** 20 for p in front], color="C0", lw=1, label="Pareto front")
    ax.set_xlabel("step time (ms)")
    ax.set_ylabel("MB")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
