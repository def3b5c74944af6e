//! ymt-store (to be written).
