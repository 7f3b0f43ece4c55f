"""Training loops (Lightning modules), augmentation and configurations."""
