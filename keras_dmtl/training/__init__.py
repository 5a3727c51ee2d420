"""From arrays of faces to a trained, evaluated model in a run folder."""
