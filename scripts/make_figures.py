"""Regenerate the ORTEP figures shown in the README (docs/figures/).

    python scripts/make_figures.py [--shared ../shared]

Urea is the shipped example with the shipped model's prediction; the organometallic
and the oxide are experimental structures of the shared test data, drawn as refined
and beside the shipped model's prediction (compare mode, coloured by IoU).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from xtalkit.adp.plot import plot_ellipsoids
from xtalkit.adp.predict import ADPPredictor
from xtalkit.crystal.cif import read_crystal
from xtalkit.examples import path as example_path

ROOT = Path(__file__).resolve().parents[1]
#: (figure name, file under shared/data/adp, view)
SHARED = (
    (
        "ru_organometallic",
        "experimental_more/BlueObelisk+jumbo6/"
        "d7daa0a2b2d0__src_org_xmlcml_cml_tools_test_examples_cif_ci6110sup1__I__6a006a.cif",
        "best",
    ),
    ("cu_complex", "experimental_more/chemistry+crystallography.io/2222708__2222708__48366c.cif", "best"),
    ("sr3liruo6_oxide", "experimental/Dans_Diffraction/Sr3LiRuO6__I__fb0d78.cif", "best"),
)


def parity(shared: Path, work: Path, out: Path) -> Path:
    """Parity of the shipped model on the molecular test split (COD test + experimental_more test).

    The datasets are built as ``benchmarks/cartnet_adp.py`` builds them (same filters,
    fractions and seed), so the split is the model card's "molecular" one.
    """
    from xtalkit.adp.analysis_plots import plot_parity
    from xtalkit.adp.evaluate import evaluate
    from xtalkit.data.adp_build import build
    from xtalkit.data.graphs import ADPGraphDataset
    from xtalkit.data.store import ADPStore
    from xtalkit.pretrained import DEFAULT_ADP_MODEL, load

    stores = []
    for name, src, fractions in (("cod", "experimental", (0.8, 0.1, 0.1)),
                                 ("more", "experimental_more", (0.35, 0.15, 0.5))):  # fmt: skip
        path = work / name
        if not (path / "report.json").is_file():
            build([str(shared / "data" / "adp" / src)], path, fractions=fractions)
        stores.append(ADPStore(path, "test"))
    model = load(DEFAULT_ADP_MODEL, task="adp").model
    ds = ADPGraphDataset(stores, cutoff=model.cutoff, hydrogens=model.hydrogens, molecules=model.equivariant)
    res = evaluate(model, ds, return_tensors=True)
    title = f"{DEFAULT_ADP_MODEL} on the molecular test split ({res['structures']} structures)"
    return plot_parity(res["U_true"], res["U_pred"], out / "parity_molecular_test.png", title=title)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("XTALKIT_SHARED", str(ROOT.parent / "shared")))
    ap.add_argument("--out", default=str(ROOT / "docs" / "figures"))
    ap.add_argument(
        "--work", default=str(ROOT / "work" / "figures"), help="datasets built for the parity plot"
    )
    args = ap.parse_args()
    out = Path(args.out)
    predictor = ADPPredictor()
    urea = predictor.predict(read_crystal(example_path("urea")))
    print(
        plot_ellipsoids(
            urea.crystal,
            out / "urea_predicted.png",
            subtitle=f"predicted by {urea.model} at {urea.temperature:g} K",
        )
    )
    for name, rel, view in SHARED:
        c = read_crystal(Path(args.shared) / "data" / "adp" / rel)
        T = f"{c.temperature:g} K"
        print(plot_ellipsoids(c, out / f"{name}.png", subtitle=f"experiment, {T}", view=view))
        pred = predictor.predict(c)
        print(plot_ellipsoids(c, out / f"{name}_compare.png", compare=pred.crystal.U_cart, view=view,
                              subtitle=f"experiment (left) and {pred.model} (right), {T}"))  # fmt: skip

    print(parity(Path(args.shared), Path(args.work), out))


if __name__ == "__main__":
    main()
