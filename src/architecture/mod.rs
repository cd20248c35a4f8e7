//! The tests that keep the architecture true, reading the source tree (ARCHITECTURE.md says
//! what each checks): the layers and who may import whom (`layers.rs`), file and function sizes
//! (`size.rs`) and the code map (`code_map.rs`), all through one reader of the source
//! (`source.rs`), which `intake/guard.rs` uses too.

pub mod code_map;
pub mod layers;
pub mod size;
pub mod source;
