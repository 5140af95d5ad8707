//! Source schema plus config becomes the target schema.
