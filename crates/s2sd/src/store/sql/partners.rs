//! The partners (applications and authorization servers) with their certificates, written once
//! for both backends (compiled per backend like `config.rs`, which says how). A partner is looked
//! up by its generated `name_key` (the ASCII-lower-cased name); its certificates hang off its id
//! and are read with a second query in the same transaction, then grouped here.

use std::collections::HashMap;

use super::Db;
use super::config::Tx;
use crate::store::records::{self, MetadataStatus, unknown_value};
use crate::store::{PartnerRecord, StoreError, duplicate_or};

#[derive(sqlx::FromRow)]
struct PartnerRow {
    id: i64,
    name: String,
    application_id: String,
    realm: String,
    metadata_url: Option<String>,
    trust_level: String,
    enabled: bool,
    allow_http_metadata: bool,
    tls_ca_pem: Option<String>,
    metadata_fetched_at: Option<i64>,
    metadata_status: Option<String>,
    metadata_refresh_interval: Option<i64>,
    linked_account: Option<String>,
    accept_security_identifier_information: bool,
    kind: String,
    use_auth_server: bool,
    created_at: i64,
    updated_at: i64,
}

/// The columns of a partner row.
const PARTNER_SELECT: &str = "SELECT id, name, application_id, realm, metadata_url, trust_level, enabled, \
     allow_http_metadata, tls_ca_pem, metadata_fetched_at, metadata_status, metadata_refresh_interval, \
     linked_account, accept_security_identifier_information, kind, use_auth_server, created_at, updated_at \
     FROM partners";

/// Every partner with its certificates, ordered by name, read in `tx`.
pub(super) async fn all_partners(tx: &mut Tx) -> Result<Vec<PartnerRecord>, StoreError> {
    let rows =
        sqlx::query_as::<_, PartnerRow>(dynamic!("{PARTNER_SELECT} ORDER BY name_key")).fetch_all(&mut **tx).await?;
    let certificates = sqlx::query_as::<_, (i64, Vec<u8>)>(
        "SELECT partner_id, der FROM partner_certificates ORDER BY partner_id, position",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut by_partner: HashMap<i64, Vec<Vec<u8>>> = HashMap::new();
    for (partner_id, der) in certificates {
        by_partner.entry(partner_id).or_default().push(der);
    }
    rows.into_iter()
        .map(|row| {
            let certificates = by_partner.remove(&row.id).unwrap_or_default();
            partner_record(row, certificates)
        })
        .collect()
}

/// The partner named `name` (compared case-insensitively) with its certificates, read in `tx`.
pub(super) async fn partner_in(tx: &mut Tx, name: &str) -> Result<Option<PartnerRecord>, StoreError> {
    let row = sqlx::query_as::<_, PartnerRow>(dynamic!("{PARTNER_SELECT} WHERE name_key = $1"))
        .bind(name.to_ascii_lowercase())
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let certificates = sqlx::query_scalar::<_, Vec<u8>>(
        "SELECT der FROM partner_certificates WHERE partner_id = $1 ORDER BY position",
    )
    .bind(row.id)
    .fetch_all(&mut **tx)
    .await?;
    partner_record(row, certificates).map(Some)
}

/// A query on the partner columns, in their order as `$1`…`$17`.
type PartnerQuery<'q> = sqlx::query::QueryScalar<'q, Db, i64, <Db as sqlx::Database>::Arguments>;

/// Binds `record`'s columns as `$1`…`$17`, in the order both the INSERT and the UPDATE name them.
fn bind_columns<'q>(query: PartnerQuery<'q>, record: &'q PartnerRecord) -> PartnerQuery<'q> {
    query
        .bind(&record.name)
        .bind(&record.application_id)
        .bind(&record.realm)
        .bind(record.metadata_url.as_deref())
        .bind(records::trust_level_text(record.trust_level))
        .bind(record.enabled)
        .bind(record.allow_http_metadata)
        .bind(record.tls_ca_pem.as_deref())
        .bind(record.metadata_fetched_at)
        .bind(record.metadata_status.as_ref().map(MetadataStatus::as_str))
        .bind(record.metadata_refresh_interval)
        .bind(record.linked_account.as_deref())
        .bind(record.accept_security_identifier_information)
        .bind(records::kind_text(record.kind))
        .bind(record.use_auth_server)
        .bind(record.created_at)
        .bind(record.updated_at)
}

/// Inserts the partner with its certificates; a name clash is [`StoreError::Duplicate`].
pub(super) async fn insert_partner(tx: &mut Tx, record: &PartnerRecord) -> Result<(), StoreError> {
    let id = sqlx::query_scalar::<_, i64>(
        "INSERT INTO partners (name, application_id, realm, metadata_url, trust_level, enabled, \
             allow_http_metadata, tls_ca_pem, metadata_fetched_at, metadata_status, metadata_refresh_interval, \
             linked_account, accept_security_identifier_information, kind, use_auth_server, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id",
    );
    let id = bind_columns(id, record)
        .fetch_one(&mut **tx)
        .await
        .map_err(|error| duplicate_or(error, "partner application", &record.name))?;
    replace_partner_certificates(tx, id, &record.certificates).await
}

/// Replaces the stored partner named `record.name` (case-insensitive) wholly, certificates
/// included; the stored name takes the case of `record.name`. false when absent.
pub(super) async fn update_partner(tx: &mut Tx, record: &PartnerRecord) -> Result<bool, StoreError> {
    let id = sqlx::query_scalar::<_, i64>(
        "UPDATE partners SET name = $1, application_id = $2, realm = $3, metadata_url = $4, trust_level = $5, \
             enabled = $6, allow_http_metadata = $7, tls_ca_pem = $8, metadata_fetched_at = $9, \
             metadata_status = $10, metadata_refresh_interval = $11, linked_account = $12, \
             accept_security_identifier_information = $13, kind = $14, use_auth_server = $15, created_at = $16, \
             updated_at = $17 \
         WHERE name_key = $18 RETURNING id",
    );
    let id = bind_columns(id, record).bind(record.name.to_ascii_lowercase()).fetch_optional(&mut **tx).await?;
    let Some(id) = id else { return Ok(false) };
    replace_partner_certificates(tx, id, &record.certificates).await?;
    Ok(true)
}

/// Removes the partner and its certificates (ON DELETE CASCADE). false when absent.
pub(super) async fn remove_partner(tx: &mut Tx, name: &str) -> Result<bool, StoreError> {
    let removed = sqlx::query("DELETE FROM partners WHERE name_key = $1")
        .bind(name.to_ascii_lowercase())
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(removed > 0)
}

pub(super) async fn replace_partner_certificates(
    tx: &mut Tx,
    partner_id: i64,
    certificates: &[Vec<u8>],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM partner_certificates WHERE partner_id = $1").bind(partner_id).execute(&mut **tx).await?;
    for (position, der) in (0_i32..).zip(certificates) {
        sqlx::query("INSERT INTO partner_certificates (partner_id, position, der) VALUES ($1, $2, $3)")
            .bind(partner_id)
            .bind(position)
            .bind(der.as_slice())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// A partner row with its certificates; an unknown trust level, kind or empty status is corrupt.
fn partner_record(row: PartnerRow, certificates: Vec<Vec<u8>>) -> Result<PartnerRecord, StoreError> {
    let unknown =
        |column, value: &str, expected| unknown_value("partners", column, "partner", &row.name, value, expected);
    let trust_level = records::trust_level_from_text(&row.trust_level)
        .ok_or_else(|| unknown("trust_level", &row.trust_level, "Full or Application"))?;
    let kind =
        records::kind_from_text(&row.kind).ok_or_else(|| unknown("kind", &row.kind, "application or auth-server"))?;
    let metadata_status = row
        .metadata_status
        .as_deref()
        .map(|text| MetadataStatus::from_stored(text).ok_or_else(|| unknown("metadata_status", text, "ok or an error")))
        .transpose()?;
    Ok(PartnerRecord {
        name: row.name,
        application_id: row.application_id,
        realm: row.realm,
        metadata_url: row.metadata_url,
        trust_level,
        enabled: row.enabled,
        allow_http_metadata: row.allow_http_metadata,
        tls_ca_pem: row.tls_ca_pem,
        certificates,
        metadata_fetched_at: row.metadata_fetched_at,
        metadata_status,
        metadata_refresh_interval: row.metadata_refresh_interval,
        linked_account: row.linked_account,
        accept_security_identifier_information: row.accept_security_identifier_information,
        kind,
        use_auth_server: row.use_auth_server,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
