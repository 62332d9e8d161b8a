"""ANN -> integer SNN conversion."""
