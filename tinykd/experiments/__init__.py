"""The experiments: one module per example, their settings, views and the registry of Table 1's variants."""
