//! ymt-sim (to be written).
