r"""Harmonic-phonon ADPs: the paper's "traditional" route (CartNet eqs. 2-3).

``U(j, T) = ħ / (2 N m_j) Σ_{q,ν} (1 + 2 n_ν(q, T)) / ω_ν(q) · e_ν(j, q) ⊗ e_ν*(j, q)``

evaluated by phonopy from finite-displacement force constants, with forces
from the CHGNet universal potential (its weights ship in the chgnet wheel, so
this runs offline). Steps:

1. optionally relax the atomic positions at fixed cell with CHGNet, keeping
   the space-group symmetry (ASE ``FixSymmetry``);
2. build a diagonal supercell whose every edge is at least
   ``min_supercell_length`` Å (default 10 Å), displace symmetry-distinct atoms
   by 0.01 Å and compute forces;
3. force constants → Γ-centred q-mesh (default: mesh_i = max(4, ⌈q_density / a_i⌉)
   with q_density = 60 Å, roughly what converges ADPs of small cells; a
   shifted Monkhorst-Pack mesh would break the site symmetry of the tensors
   in oblique cells) → thermal
   displacement matrices at each temperature, excluding modes below
   ``freq_min`` THz (the acoustic modes at Γ and any imaginary modes, which
   would otherwise make U diverge; imaginary modes are reported).

At high temperature ``n ≈ k_B T / ħω``, so U grows linearly with T; at
T → 0 it tends to the zero-point value.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time

import numpy as np

from xtalkit.crystal.core import Crystal
from xtalkit.errors import CrystalError


@dataclasses.dataclass
class PhononADPs:
    """Result of :func:`phonon_adps`.

    Attributes:
        crystal: the (relaxed) structure the phonons were computed for.
        temperatures: (m,) K.
        U_cart: (m, n, 3, 3) Cartesian ADPs, Å², one set per temperature.
        supercell: (3,) diagonal supercell.
        mesh: (3,) q-mesh.
        n_displacements: supercells whose forces were computed.
        min_frequency: lowest frequency on the mesh, THz (negative = imaginary).
        seconds: wall time, s.
    """

    crystal: Crystal
    temperatures: np.ndarray
    U_cart: np.ndarray
    supercell: np.ndarray
    mesh: np.ndarray
    n_displacements: int
    min_frequency: float
    seconds: float

    def at(self, k: int) -> Crystal:
        """The crystal with the ADPs of the k-th temperature."""
        out = self.crystal.with_adps(self.U_cart[k], "Uani")
        out.temperature = float(self.temperatures[k])
        return out


def default_supercell(lattice: np.ndarray, min_length: float = 10.0) -> np.ndarray:
    """Smallest diagonal supercell with every lattice vector at least ``min_length`` Å."""
    lengths = np.linalg.norm(lattice, axis=1)
    return np.maximum(1, np.ceil(min_length / lengths)).astype(int)


def default_mesh(lattice: np.ndarray, q_density: float = 60.0) -> np.ndarray:
    """q-mesh with ``max(4, ⌈q_density / a_i⌉)`` points along each reciprocal axis."""
    lengths = np.linalg.norm(lattice, axis=1)
    return np.maximum(4, np.ceil(q_density / lengths)).astype(int)


def _calculator():
    from chgnet.model import CHGNet, CHGNetCalculator

    return CHGNetCalculator(CHGNet.load(verbose=False), use_device="cpu", on_isolated_atoms="ignore")


def phonon_adps(
    crystal: Crystal,
    temperatures: list[float] | np.ndarray,
    *,
    relax: bool = True,
    fmax: float = 0.005,
    supercell: np.ndarray | None = None,
    min_supercell_length: float = 10.0,
    mesh: np.ndarray | None = None,
    displacement: float = 0.01,
    freq_min: float = 0.05,
    max_supercell_atoms: int = 600,
    calculator=None,
) -> PhononADPs:
    """Harmonic ADPs of a crystal at several temperatures (see module docstring).

    Args:
        crystal: structure (ordered: one species per site, occupancy 1).
        temperatures: K.
        relax: relax positions at fixed cell first.
        fmax: relaxation force threshold, eV/Å.
        supercell: (3,) diagonal supercell; default :func:`default_supercell`.
        min_supercell_length: Å, for the default supercell.
        mesh: (3,) q-mesh; default :func:`default_mesh`.
        displacement: finite displacement, Å.
        freq_min: THz; modes below are left out of the sum.
        max_supercell_atoms: refuse larger supercells (cost grows with their size squared).
        calculator: ASE calculator (default CHGNet).

    Raises:
        CrystalError: partial occupancy, or a supercell above ``max_supercell_atoms``.
    """
    from ase import Atoms
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    t0 = time.time()
    if (np.abs(crystal.occupancy - 1) > 1e-3).any():
        raise CrystalError(
            "phonon ADPs need an ordered structure (occupancy 1 everywhere)", source=crystal.source
        )
    temps = np.atleast_1d(np.asarray(temperatures, float))
    if (temps < 0).any():
        raise ValueError("temperatures must be non-negative")
    sc = (
        default_supercell(crystal.lattice, min_supercell_length)
        if supercell is None
        else np.asarray(supercell, int)
    )
    n_super = len(crystal) * int(np.prod(sc))
    if n_super > max_supercell_atoms:
        raise CrystalError(
            f"phonon supercell {'x'.join(map(str, sc))} would hold {n_super} atoms, "
            f"above {max_supercell_atoms}",
            source=crystal.source,
        )
    calc = calculator or _calculator()
    work = crystal.replace()
    if relax:
        from ase.constraints import FixSymmetry
        from ase.optimize import BFGS

        atoms = crystal.to_ase()
        atoms.calc = calc
        with contextlib.suppress(Exception):  # spglib may fail on odd cells: relax unconstrained
            atoms.set_constraint(FixSymmetry(atoms))
        BFGS(atoms, logfile=None).run(fmax=fmax, steps=500)
        work = crystal.replace(frac=np.mod(atoms.get_scaled_positions(wrap=True), 1.0))
    unit = PhonopyAtoms(symbols=work.symbols, cell=work.lattice, scaled_positions=work.frac)
    ph = Phonopy(unit, supercell_matrix=np.diag(sc), primitive_matrix="P")  # one U per atom of the given cell
    ph.generate_displacements(distance=displacement)
    forces = []
    for s in ph.supercells_with_displacements:
        a = Atoms(s.symbols, cell=s.cell, scaled_positions=s.scaled_positions, pbc=True)
        a.calc = calc
        forces.append(a.get_forces())
    ph.forces = np.array(forces)
    ph.produce_force_constants()
    ph.symmetrize_force_constants()
    q = default_mesh(work.lattice) if mesh is None else np.asarray(mesh, int)
    ph.run_mesh(q.tolist(), with_eigenvectors=True, is_mesh_symmetry=False, is_gamma_center=True)
    freqs = ph.mesh.frequencies
    try:
        ph.run_thermal_displacement_matrices(temperatures=temps.tolist(), freq_min=freq_min)
    except AssertionError:  # phonopy asserts the q-sum is real; soft modes with huge amplitudes break it
        raise CrystalError(
            f"phonon displacement matrices are not real (lowest frequency {float(np.min(freqs)):.2f} THz: "
            "soft or unstable modes in the CHGNet harmonic model)",
            source=crystal.source,
        ) from None
    U = np.array(ph.thermal_displacement_matrices.thermal_displacement_matrices)
    return PhononADPs(
        crystal=work,
        temperatures=temps,
        U_cart=U,
        supercell=sc,
        mesh=q,
        n_displacements=len(forces),
        min_frequency=float(np.min(freqs)),
        seconds=time.time() - t0,
    )


def high_temperature_slope(result: PhononADPs) -> np.ndarray:
    """dU_eq/dT (Å²/K) between the two highest temperatures, per atom (diagnostic)."""
    if len(result.temperatures) < 2:
        raise ValueError("needs at least two temperatures")
    order = np.argsort(result.temperatures)
    a, b = order[-2], order[-1]
    ueq = np.trace(result.U_cart, axis1=2, axis2=3) / 3
    dt = result.temperatures[b] - result.temperatures[a]
    if math.isclose(dt, 0):
        raise ValueError("the two highest temperatures are equal")
    return (ueq[b] - ueq[a]) / dt
