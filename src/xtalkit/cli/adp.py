"""``xtalkit adp``: predict, check, plot and compute thermal ellipsoids."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

import numpy as np

from xtalkit.adp.plot import FORMATS as _FIGURES
from xtalkit.cli import options as opt
from xtalkit.cli.common import Batch, Job, add_scale_options, run_sharded, sharded
from xtalkit.crystal import adp as conv
from xtalkit.crystal.cif import read_crystal, to_cif_string
from xtalkit.errors import XtalkitError
from xtalkit.io import atomic_write


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``xtalkit adp``."""
    p = sub.add_parser("adp", help="thermal ellipsoids: predict, check, plot, compute")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    pr = acts.add_parser(
        "predict",
        help="predict ADPs of every non-H atom",
        description=(
            "Predict anisotropic displacement parameters of every non-H atom with a trained CartNet. "
            "The temperature comes from the file or -T (neither is an error). H atoms keep their input "
            "values, or ride on their parent atom (1.2 U_eq, 1.5 U_eq for OH and CH3). Files may be "
            "CIFs or directories; failures are listed at the end."
        ),
    )
    pr.add_argument("files", nargs="*", metavar="IN.cif")
    pr.add_argument(
        "--example", nargs="?", const="urea", metavar="NAME", help="predict a shipped example (default urea)"
    )
    pr.add_argument("-T", "--temperature", type=opt.kelvin, default=None, help="K (overrides the file's)")
    pr.add_argument("-o", "--out", default=None, help="output file (one input) or directory")
    pr.add_argument(
        "--model",
        default=None,
        help="shipped name or model file (default harmonic-adp; cartnet-adp: the paper's)",
    )
    pr.add_argument("--format", choices=["cif", "json", "csv"], default="cif")
    pr.add_argument(
        "--symmetry", choices=["original", "P1"], default="original", help="CIF output (default original)"
    )
    pr.add_argument("--hydrogens", choices=["keep", "riding"], default="keep")
    pr.add_argument(
        "--average-rotations", type=opt.nonnegative_int, default=0, metavar="K",
        help="average over K rotations (paper model only; harmonic-adp is exactly equivariant)",
    )  # fmt: skip
    pr.add_argument("--plot", action="store_true", help="also write an ORTEP-style PNG next to each output")
    pr.add_argument(
        "--scale-to-input", action="store_true",
        help="keep predicted shapes, rescale to the file's own U_eq/U_iso level (e.g. isotropic refinement)",
    )  # fmt: skip
    add_scale_options(pr)
    pr.set_defaults(func=run_predict, check=_check_predict)

    ck = acts.add_parser(
        "check",
        help="flag anomalous ellipsoids in a refinement",
        description=(
            "Compare a refinement's ADPs with the model's, atom by atom (MAE, S12, IoU, volume ratio), "
            "flag atoms whose size or shape is anomalous, non-positive-definite tensors, and bonds that "
            "fail Hirshfeld's rigid-bond test. Thresholds: xtalkit.adp.check."
        ),
    )
    ck.add_argument("files", nargs="+", metavar="REFINED.cif")
    ck.add_argument("-T", "--temperature", type=opt.kelvin, default=None)
    ck.add_argument("--model", default=None)
    ck.add_argument("--no-model", action="store_true", help="only the model-free checks")
    ck.add_argument(
        "--hirshfeld-threshold", type=opt.positive_float, default=0.001, help="Å² (default %(default)s)"
    )
    ck.add_argument("--json", action="store_true")
    ck.add_argument("--plot", default=None, metavar="DIR",
                    help="write DIR/<file>_check.png: ORTEP figure, flagged atoms in red")  # fmt: skip
    ck.set_defaults(func=run_check, check=lambda a: opt.check_output(a.plot, directory=True))

    pl = acts.add_parser(
        "plot",
        help="ORTEP figure of the ellipsoids (PNG/SVG/PDF) and an interactive 3D view (HTML)",
        description=(
            "ORTEP figure: the asymmetric unit grown to whole molecules (or one coordination shell of an "
            "extended solid), ellipsoids at --probability with the front octant shaded and principal "
            "ellipses, H as small spheres, CIF labels, an a/b/c triad and a 1 Å bar. --compare puts a "
            "second file's tensors beside the first, coloured by IoU. --html writes a self-contained "
            "page to rotate, zoom and hover the structure."
        ),
    )
    pl.add_argument("file", metavar="IN.cif")
    pl.add_argument("-o", "--out", default=None, help="figure file: .png, .svg or .pdf")
    pl.add_argument("--html", default=None, metavar="FILE.html", help="interactive 3D view (works offline)")
    pl.add_argument(
        "--compare", default=None, metavar="OTHER.cif", help="OTHER's tensors beside IN's, coloured by IoU"
    )
    pl.add_argument("--probability", type=opt.probability, default=0.5, help="(default 0.5)")
    pl.add_argument("--no-hydrogens", action="store_true")
    pl.add_argument("--labels", choices=["auto", "all", "none"], default="auto", help="auto: non-H atoms")
    pl.add_argument("--view", choices=["a", "b", "c", "best"], default="best",
                    help="look down a, b, c or the least-overlap direction (default best)")  # fmt: skip
    pl.add_argument("--cell", action="store_true", help="draw the unit cell")
    pl.set_defaults(func=run_plot, check=_check_plot)

    cp = acts.add_parser(
        "compute",
        help="ADPs from harmonic phonons (phonopy + CHGNet), the traditional route",
        description=(
            "Harmonic-phonon ADPs (CartNet eqs. 2-3): optional fixed-cell relaxation with CHGNet, "
            "finite-displacement force constants in a supercell, thermal displacement matrices on a "
            "q-mesh. Writes one CIF per temperature and reports the time taken."
        ),
    )
    cp.add_argument("file", metavar="IN.cif")
    cp.add_argument("-T", "--temperatures", type=opt.kelvin, nargs="+", required=True)
    cp.add_argument("--method", choices=["phonon"], default="phonon")
    cp.add_argument("-o", "--out", default=".", help="output directory")
    cp.add_argument("--no-relax", action="store_true", help="keep the file's positions")
    cp.add_argument(
        "--supercell",
        type=opt.positive_int,
        nargs=3,
        default=None,
        help="diagonal supercell (default: edges ≥ 10 Å)",
    )
    cp.add_argument(
        "--mesh",
        type=opt.positive_int,
        nargs=3,
        default=None,
        help="q-mesh (default: ⌈60 Å / a_i⌉, at least 4)",
    )
    cp.add_argument("--max-supercell-atoms", type=opt.positive_int, default=600)
    cp.set_defaults(func=run_compute, check=lambda a: opt.check_output(a.out, directory=True))

    ts = acts.add_parser(
        "temperature-scan",
        help="predicted mean ellipsoid volume against input temperature, fixed geometry",
    )
    ts.add_argument("file", metavar="IN.cif")
    ts.add_argument("--from", dest="t_from", type=opt.kelvin, default=50.0)
    ts.add_argument("--to", dest="t_to", type=opt.kelvin, default=400.0)
    ts.add_argument("--step", type=opt.positive_float, default=25.0)
    ts.add_argument("-o", "--out", required=True, help="PNG file")
    ts.add_argument("--model", default=None)
    ts.add_argument("--json", action="store_true", help="also print the numbers as JSON")
    ts.set_defaults(func=run_temperature_scan, check=_check_scan)


_SUFFIXES = (".cif", ".json", ".csv")


def _check_predict(args: argparse.Namespace) -> None:
    """Options of ``adp predict`` that depend on each other, and a writable ``-o``."""
    suffix = Path(args.out).suffix.lower() if args.out else ""
    if suffix in _SUFFIXES and suffix != f".{args.format}":
        raise argparse.ArgumentTypeError(f"-o {args.out} does not match --format {args.format}")
    opt.check_output(args.out, directory=None if suffix in _SUFFIXES else True)


def _check_figure(out: str) -> None:
    opt.check_suffix(out, _FIGURES, "a figure")
    if not Path(out).suffix:
        raise argparse.ArgumentTypeError(f"-o {out}: give the figure a suffix ({', '.join(_FIGURES)})")
    opt.check_output(out, directory=False)


def _check_plot(args: argparse.Namespace) -> None:
    if args.out is None and args.html is None:
        raise argparse.ArgumentTypeError("give -o FIGURE and/or --html FILE.html")
    if args.out is not None:
        _check_figure(args.out)
    if args.html is not None:
        opt.check_suffix(args.html, (".html", ".htm"), "the interactive view")
        opt.check_output(args.html, directory=False)


def _check_scan(args: argparse.Namespace) -> None:
    opt.check_range(args.t_from, args.t_to, "--from/--to")
    _check_figure(args.out)


def _predictor(name: str | None):
    from xtalkit.adp.predict import ADPPredictor
    from xtalkit.pretrained import DEFAULT_ADP_MODEL

    return ADPPredictor(name or DEFAULT_ADP_MODEL)


def _rows(pred) -> list[dict]:
    c = pred.crystal
    U_cif = conv.ucart_to_ucif(c.U_cart, c.lattice)
    rows = []
    for i in range(len(c)):
        finite = np.isfinite(c.U_cart[i]).all()
        rows.append(
            {
                "label": str(c.labels[i]),
                "element": c.symbols[i],
                "frac": c.frac[i].tolist(),
                "cart": c.cart[i].tolist(),
                "source": str(pred.source[i]) or None,
                "U_cart": c.U_cart[i].tolist() if finite else None,
                "U_cif": conv.to_components(U_cif[i]).tolist() if finite else None,
                "U_eq": float(c.U_eq[i]) if finite else None,
                "flag": "implausible" if pred.implausible[i] else ("isolated" if pred.isolated[i] else None),
            }
        )
    return rows


def _output_path(inp: Path, block: str, out: str | None, n_blocks: int, fmt: str) -> Path:
    """``OUT`` itself when it names a file, else ``OUT/<stem>[_<block>]_adp.<fmt>`` (OUT default: .)."""
    name = f"{inp.stem}{'' if n_blocks == 1 else '_' + block}_adp.{fmt}"
    if out is None:
        return Path.cwd() / name
    o = Path(out)
    if o.suffix.lower() in _SUFFIXES:
        return o
    return o / name


def run_predict(args: argparse.Namespace) -> int:
    """Run ``xtalkit adp predict``: read, predict and write one structure at a time."""
    from xtalkit import examples

    items = list(args.files)
    if args.example:
        items.append(str(examples.path(args.example)))
    if not items:
        print("xtalkit adp predict: give CIF files or directories, or --example", file=sys.stderr)
        return 2
    batch = Batch(items, "predict", debug=getattr(args, "debug", False))
    several = len(batch.files) > 1
    if several and args.out and Path(args.out).suffix.lower() in _SUFFIXES:
        raise XtalkitError(f"-o {args.out}: give a directory when predicting several files")
    predictor = _predictor(args.model)
    if sharded(args):
        shards = Path(args.out or ".") / ".xtalkit-shards"
        return run_sharded(batch, lambda b: _predict_files(b, predictor, args), network=predictor.model,
                           shards=shards, args=args)[1]  # fmt: skip
    with batch.session():
        _predict_files(batch, predictor, args)
    return batch.finish()


def _predict_files(batch: Batch, predictor, args: argparse.Namespace) -> list:
    """The loop of ``adp predict`` over a batch (one process, or one shard of several)."""
    for job in batch.jobs():
        with batch.guard(job):
            _predict_one(job, predictor, args)
            batch.wrote(job.path)
    return []


def _predict_one(job: Job, predictor, args: argparse.Namespace) -> None:
    """Predict one structure and write its output (and picture) atomically."""
    pred = predictor.predict(
        job.crystal, args.temperature, hydrogens=args.hydrogens, average_rotations=args.average_rotations,
        scale_to_input=args.scale_to_input,
    )  # fmt: skip
    for w in pred.warnings:
        print(f"{job.where}: warning: {w}", file=sys.stderr)
    if job.n_blocks > 1 and args.out and Path(args.out).suffix.lower() in _SUFFIXES:
        raise XtalkitError(f"-o {args.out} names one file, but the input has {job.n_blocks} structures")
    out = _output_path(job.path, job.block, args.out, job.n_blocks, args.format)
    provenance = (
        f"ADPs predicted by xtalkit with model {pred.model} at {pred.temperature:g} K\n"
        f"input: {job.where}; H atoms: {args.hydrogens}"
    )
    if pred.implausible.any():
        provenance += "\nWARNING: implausible predicted U (outside {:g}-{:g} A^2) for atoms: ".format(
            *conv.PLAUSIBLE_EIGENVALUES
        ) + " ".join(dict.fromkeys(str(x) for x in pred.crystal.labels[pred.implausible]))
    if args.format == "cif":
        text = to_cif_string(pred.crystal, symmetry=args.symmetry, comment=provenance)
        text = text.replace(
            "_diffrn_ambient_temperature",
            f"_xtalkit_adp_model '{pred.model}'\n_xtalkit_adp_temperature {pred.temperature:g}\n"
            "_diffrn_ambient_temperature",
            1,
        )
        atomic_write(out, text)
    elif args.format == "json":
        doc = {"source": str(job.path), "block": job.block, "model": pred.model,
               "temperature": pred.temperature, "warnings": pred.warnings, "atoms": _rows(pred)}  # fmt: skip
        atomic_write(out, json.dumps(doc, indent=1, allow_nan=False))
    else:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["file", "block", "label", "element", "x", "y", "z", "source",
                    "U11", "U22", "U33", "U12", "U13", "U23", "Ueq", "flag"])  # fmt: skip
        for r in _rows(pred):
            u = r["U_cif"] or [""] * 6
            w.writerow([str(job.path), job.block, r["label"], r["element"], *(f"{x:.6f}" for x in r["frac"]),
                        r["source"] or "", *u, r["U_eq"] if r["U_eq"] is not None else "",
                        r["flag"] or ""])  # fmt: skip
        atomic_write(out, buf.getvalue())
    print(f"{out}")
    if args.plot:
        from xtalkit.adp.plot import plot_ellipsoids

        png = out.with_suffix(".png")
        plot_ellipsoids(pred.crystal, png, subtitle=f"predicted by {pred.model} at {pred.temperature:g} K")
        print(f"{png}")


def run_check(args: argparse.Namespace) -> int:
    """Run ``xtalkit adp check``."""
    from xtalkit.adp.check import CheckThresholds, check_adps, format_report

    predictor = None if args.no_model else _predictor(args.model)
    thresholds = CheckThresholds(hirshfeld_threshold=args.hirshfeld_threshold)
    batch = Batch(args.files, "check", debug=getattr(args, "debug", False))
    docs = []
    with batch.session():
        for job in batch.jobs():
            with batch.guard(job):
                crystal = job.crystal
                pred = predictor.predict(crystal, args.temperature) if predictor else None
                rep = check_adps(
                    crystal,
                    pred.crystal if pred else None,
                    thresholds=thresholds,
                    model=pred.model if pred else None,
                    warnings=pred.warnings if pred else [],
                )
                if args.json:
                    docs.append(rep.as_dict())
                else:
                    print(format_report(rep))
                if args.plot:
                    _check_figure_of(job, crystal, rep, args.plot)
                batch.wrote(job.path)
    if args.json:
        print(json.dumps({"reports": docs, "errors": batch.report.failures}, indent=1, allow_nan=False))
    return batch.finish()


def _check_figure_of(job: Job, crystal, report, directory: str) -> None:
    """ORTEP figure of a checked structure with its flagged atoms in red."""
    from xtalkit.adp.plot import plot_ellipsoids

    highlight = report.flagged_mask(crystal)
    name = f"{job.path.stem}{'' if job.n_blocks == 1 else '_' + job.block}_check.png"
    labels = ", ".join(a.label for a in report.flagged_atoms[:6]) or "none"
    path = plot_ellipsoids(crystal, Path(directory) / name, highlight=highlight,
                           subtitle=f"adp check: flagged in red ({labels})")  # fmt: skip
    print(path, file=sys.stderr)


def run_plot(args: argparse.Namespace) -> int:
    """Run ``xtalkit adp plot``."""
    from xtalkit.adp.plot import plot_ellipsoids

    crystal = read_crystal(args.file)
    compare = None
    if args.compare:
        other = read_crystal(args.compare)
        compare = match_tensors(crystal, other)
    if args.out:
        path = plot_ellipsoids(
            crystal,
            args.out,
            compare=compare,
            probability=args.probability,
            hydrogens=not args.no_hydrogens,
            labels=args.labels,
            view=args.view,
            cell=args.cell,
            subtitle=None if crystal.temperature is None else f"{crystal.temperature:g} K",
        )
        print(path)
    if args.html:
        from xtalkit.adp.html_view import write_html

        names = (Path(args.file).name, Path(args.compare).name if args.compare else None)
        print(write_html(crystal, args.html, compare=compare, probability=args.probability, names=names))
    return 0


def match_tensors(crystal, other) -> np.ndarray:
    """Tensors of ``other`` on the atoms of ``crystal`` (same element within 0.5 Å), rotated into its frame.

    Raises:
        XtalkitError: if the cells differ or an atom has no partner.
    """
    if not np.allclose(crystal.cell_parameters, other.cell_parameters, rtol=0.02, atol=0.5):
        raise XtalkitError("the two files describe different cells")
    # express the other's tensors in this crystal's Cartesian frame via the CIF convention
    U = conv.ucif_to_ucart(conv.ucart_to_ucif(other.U_cart, other.lattice), crystal.lattice)
    out = np.full((len(crystal), 3, 3), np.nan)
    for i in range(len(crystal)):
        d = (other.frac - crystal.frac[i] + 0.5) % 1.0 - 0.5
        dist = np.linalg.norm(d @ crystal.lattice, axis=1)
        dist[other.numbers != crystal.numbers[i]] = np.inf
        j = int(np.argmin(dist))
        if dist[j] > 0.5:
            raise XtalkitError(f"atom {crystal.labels[i]} has no partner in the compared file")
        out[i] = U[j]
    return out


def run_compute(args: argparse.Namespace) -> int:
    """Run ``xtalkit adp compute``."""
    from xtalkit.adp.phonon import phonon_adps
    from xtalkit.crystal.cif import write_cif

    crystal = read_crystal(args.file)
    res = phonon_adps(
        crystal,
        args.temperatures,
        relax=not args.no_relax,
        supercell=args.supercell,
        mesh=args.mesh,
        max_supercell_atoms=args.max_supercell_atoms,
    )
    out = Path(args.out)
    stem = Path(args.file).stem
    for k, T in enumerate(res.temperatures):
        c = res.at(k)
        path = write_cif(
            c,
            out / f"{stem}_phonon_{T:g}K.cif",
            symmetry="original",
            comment=(
                f"harmonic-phonon ADPs at {T:g} K: phonopy + CHGNet, "
                f"supercell {'x'.join(map(str, res.supercell))}, mesh {'x'.join(map(str, res.mesh))}, "
                f"positions {'relaxed' if not args.no_relax else 'as given'}"
            ),
        )
        print(f"{path}  mean U_eq {np.nanmean(c.U_eq):.4f} Å²")
    if res.min_frequency < -0.1:
        print(f"warning: imaginary modes down to {res.min_frequency:.2f} THz were left out", file=sys.stderr)
    print(f"{res.n_displacements} displaced supercells, {res.seconds:.1f} s")
    return 0


def run_temperature_scan(args: argparse.Namespace) -> int:
    """Run ``xtalkit adp temperature-scan``."""
    from xtalkit.adp.metrics import ellipsoid_volume
    from xtalkit.adp.temperature import plot_temperature_scan, temperature_scan

    crystal = read_crystal(args.file)
    predictor = _predictor(args.model)
    temps = np.arange(args.t_from, args.t_to + 1e-9, args.step)
    temps, volumes = temperature_scan(predictor, crystal, temps)
    heavy = ~crystal.is_hydrogen & (crystal.adp_type == "Uani")
    experimental = None
    if crystal.temperature is not None and heavy.any() and crystal.adp_positive_definite[heavy].all():
        experimental = ([crystal.temperature], [float(ellipsoid_volume(crystal.U_cart[heavy]).mean())])
    path = plot_temperature_scan(
        temps, volumes, args.out, geometry_temperature=crystal.temperature, experimental=experimental,
        title=f"{crystal.formula}: predicted mean ellipsoid volume, fixed geometry",
    )  # fmt: skip
    print(path)
    if args.json:
        print(json.dumps({"temperature_K": temps.tolist(), "mean_volume_A3": volumes.tolist()}))
    return 0
