"""Neural networks: CartNet, Site-Net, the distance-matrix network; model files."""
