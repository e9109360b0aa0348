"""Applications (办件): what a resident applied for, its state, its deadline and its timeline."""
