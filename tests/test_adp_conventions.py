"""ADP conventions: hand-derived identities on a triclinic cell and round trips."""

import numpy as np
import pytest

from xtalkit.crystal import adp

from conftest import TRICLINIC, lattice_from_parameters, random_spd

L = lattice_from_parameters(**TRICLINIC)


def reciprocal_by_formula(a, b, c, alpha, beta, gamma):
    """a*, b*, c* and cos α*, cos β*, cos γ* from the textbook formulas."""
    al, be, ga = np.radians([alpha, beta, gamma])
    V = (
        a
        * b
        * c
        * np.sqrt(
            1 - np.cos(al) ** 2 - np.cos(be) ** 2 - np.cos(ga) ** 2 + 2 * np.cos(al) * np.cos(be) * np.cos(ga)
        )
    )
    lengths = np.array([b * c * np.sin(al), a * c * np.sin(be), a * b * np.sin(ga)]) / V
    cos_star = np.array(
        [
            (np.cos(be) * np.cos(ga) - np.cos(al)) / (np.sin(be) * np.sin(ga)),
            (np.cos(al) * np.cos(ga) - np.cos(be)) / (np.sin(al) * np.sin(ga)),
            (np.cos(al) * np.cos(be) - np.cos(ga)) / (np.sin(al) * np.sin(be)),
        ]
    )
    return lengths, cos_star


def test_reciprocal_lengths_match_textbook_formula():
    lengths, _ = reciprocal_by_formula(**TRICLINIC)
    np.testing.assert_allclose(adp.reciprocal_lengths(L), lengths, rtol=1e-12)


def test_isotropic_tensor_in_cif_convention_is_cosines_of_reciprocal_angles():
    # U_cart = u·I  ⇔  U_cif_ij = u · cos(angle between a*_i and a*_j)
    u = 0.0234
    U_cif = adp.ucart_to_ucif(adp.uiso_to_ucart(u), L)
    _, (ca, cb, cg) = reciprocal_by_formula(**TRICLINIC)
    expected = u * np.array([[1, cg, cb], [cg, 1, ca], [cb, ca, 1]])
    np.testing.assert_allclose(U_cif, expected, rtol=1e-12, atol=1e-15)


def test_beta_and_b_hand_values():
    lengths, _ = reciprocal_by_formula(**TRICLINIC)
    U_cif = np.array([[0.02, 0.003, -0.001], [0.003, 0.015, 0.002], [-0.001, 0.002, 0.03]])
    beta = adp.ustar_to_beta(adp.ucif_to_ustar(U_cif, L))
    # β_ij = 2π² a*_i a*_j U_ij
    np.testing.assert_allclose(beta, 2 * np.pi**2 * np.outer(lengths, lengths) * U_cif, rtol=1e-12)
    np.testing.assert_allclose(adp.u_to_b(U_cif), 8 * np.pi**2 * U_cif, rtol=1e-15)
    assert adp.u_to_b(0.01) == pytest.approx(0.7895683520871486)  # 8π²·0.01


def test_round_trips_on_triclinic_cell():
    rng = np.random.default_rng(1)
    U_cart = random_spd(rng, 50)
    U_cif = adp.ucart_to_ucif(U_cart, L)
    U_star = adp.ucif_to_ustar(U_cif, L)
    beta = adp.ustar_to_beta(U_star)
    B = adp.u_to_b(U_cif)
    np.testing.assert_allclose(adp.ustar_to_ucart(adp.beta_to_ustar(beta), L), U_cart, atol=1e-15)
    np.testing.assert_allclose(adp.ucif_to_ucart(adp.b_to_u(B), L), U_cart, atol=1e-15)
    np.testing.assert_allclose(adp.ustar_to_ucif(U_star, L), U_cif, atol=1e-15)
    np.testing.assert_allclose(adp.ucart_to_ustar(U_cart, L), U_star, atol=1e-15)


def test_u_equiv_matches_fischer_tillmanns_definition():
    # U_eq = 1/3 Σ_ij U_ij a*_i a*_j (a_i · a_j), with U_ij in the CIF convention
    rng = np.random.default_rng(2)
    U_cart = random_spd(rng, 20)
    U_cif = adp.ucart_to_ucif(U_cart, L)
    n = adp.reciprocal_lengths(L)
    G = L @ L.T
    ueq = np.einsum("kij,i,j,ij->k", U_cif, n, n, G) / 3
    np.testing.assert_allclose(adp.u_equiv(U_cart), ueq, rtol=1e-12)


def test_components_order_and_symmetry():
    c = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    T = adp.from_components(c)
    np.testing.assert_array_equal(T, [[1, 4, 5], [4, 2, 6], [5, 6, 3]])
    np.testing.assert_array_equal(adp.to_components(T), c)


def test_symmetry_operation_in_cartesian_is_orthogonal_and_consistent():
    # a 2-fold axis along b of a monoclinic cell: W = diag(-1, 1, -1)
    Lm = lattice_from_parameters(5.0, 6.0, 7.0, 90.0, 105.0, 90.0)
    W = np.diag([-1.0, 1.0, -1.0])
    R = adp.cartesian_rotation(W, Lm)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    U_cart = random_spd(np.random.default_rng(3), 1)[0]
    via_star = adp.ustar_to_ucart(W @ adp.ucart_to_ustar(U_cart, Lm) @ W.T, Lm)
    np.testing.assert_allclose(adp.rotate(U_cart, R), via_star, atol=1e-15)


def test_positive_definite_check():
    U = np.array([np.eye(3) * 0.01, np.diag([0.01, 0.01, -0.001]), np.full((3, 3), np.nan)])
    assert adp.is_positive_definite(U).tolist() == [True, False, False]
