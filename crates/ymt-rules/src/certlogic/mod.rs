//! CertLogic (to be written).
