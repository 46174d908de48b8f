//! placeholder
pub mod checkpoint;
pub mod limits;
pub mod offset;
pub mod rdb;
pub mod replica;
pub mod replid;
pub mod resp;
pub use checkpoint::Checkpoint;
pub use limits::Limits;
pub use offset::Offset;
pub use replid::{ReplId, ReplIdError};
