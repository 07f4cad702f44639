//! The pin (`pinned.json`): a version consumers are held at instead of the announced one.

use object_store::{ObjectStoreExt, PutPayload};
use serde_json::{Value, json};

use super::announcement::{hex, parse_hex};
use super::{BlobStore, PINNED, store_error};
use crate::StateId;
use crate::error::{Result, StoreError, StoreKey, StoreOperation};

impl BlobStore {
    /// The pinned state, if any.
    pub async fn pinned(&self) -> Result<Option<StateId>, StoreError> {
        match self.store.get(&self.path(PINNED)).await {
            Ok(r) => {
                let bytes = r
                    .bytes()
                    .await
                    .map_err(|e| store_error(StoreOperation::Get, StoreKey::Pin, e))?;
                parse_pin(&bytes).map(Some)
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(StoreOperation::Get, StoreKey::Pin, e)),
        }
    }

    /// Pins consumers to the state `state`.
    pub async fn pin(&self, state: StateId) -> Result<(), StoreError> {
        let body =
            serde_json::to_vec_pretty(&json!({"version": state.version, "tag": hex(state.tag)}))
                .unwrap_or_default();
        self.store
            .put(&self.path(PINNED), PutPayload::from(body))
            .await
            .map_err(|e| store_error(StoreOperation::Put, StoreKey::Pin, e))?;
        self.announced.send_modify(|_| {});
        Ok(())
    }

    /// Removes the pin: consumers follow the announced version again.
    pub async fn unpin(&self) -> Result<(), StoreError> {
        match self.store.delete(&self.path(PINNED)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                self.announced.send_modify(|_| {});
                Ok(())
            }
            Err(e) => Err(store_error(StoreOperation::Delete, StoreKey::Pin, e)),
        }
    }
}

/// Parses the pin document (`{"version": N, "tag": "0x…"}`).
pub(crate) fn parse_pin(bytes: &[u8]) -> Result<StateId, StoreError> {
    let corrupt = |reason: &str| StoreError::Corrupt {
        key: StoreKey::Pin,
        reason: reason.to_string(),
    };
    let v: Value = serde_json::from_slice(bytes).map_err(|e| corrupt(&e.to_string()))?;
    let version = v
        .get("version")
        .and_then(Value::as_u64)
        .ok_or_else(|| corrupt("no version"))?;
    let tag = v
        .get("tag")
        .and_then(parse_hex)
        .ok_or_else(|| corrupt("no tag"))?;
    Ok(StateId::new(version, tag))
}
