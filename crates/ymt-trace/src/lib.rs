//! ymt-trace (to be written).
