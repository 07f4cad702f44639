//! The announced chain as a list of states, for tools that walk every version.

use std::collections::HashSet;

use crate::StateId;
use crate::chain::Chain;
use crate::error::StoreError;
use crate::store::BlobStore;

/// The states of the announced chain, oldest first, linked back from the announced state the
/// way consumers and the producer link it (the forward delta into a state, else the reverse
/// delta out of it); empty when nothing is announced. Blobs of failed attempts or another
/// lineage are not part of it.
pub async fn announced_chain(store: &BlobStore) -> Result<Vec<StateId>, StoreError> {
    let Some((announcement, _)) = store.announcement().await? else {
        return Ok(Vec::new());
    };
    Ok(Chain::list(store, announcement.state(), &HashSet::new())
        .await?
        .states)
}
