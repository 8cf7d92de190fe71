//! The mailbox queries: one text of every query of [`MailboxStore`], expanded by
//! `mailbox_store!` for SQLite (`SqliteStore`) and PostgreSQL (`PgStore`). The schemas agree on
//! every name the queries use (`migrations/sqlite/0005_mailbox_keys.sql` gave SQLite the key
//! columns and the paging index PostgreSQL has), parameters are `$1, $2, …` on both, and what
//! truly differs is given to the macro at the bottom of this file, per backend:
//!
//! * how a write starts: SQLite takes the write lock at once (`BEGIN IMMEDIATE`), PostgreSQL
//!   starts a plain transaction (mailbox writes never take the configuration writers' lock);
//! * how reads that must agree (a page and its total, the dump) start: one `REPEATABLE READ`
//!   snapshot on PostgreSQL, one read transaction (one WAL snapshot) on SQLite;
//! * what an import locks: PostgreSQL locks `mailbox_users` against other nodes' writers so that
//!   its emptiness check holds until it commits; SQLite's write lock already does;
//! * how a JSON list parameter is written: PostgreSQL's columns are JSONB (`$n::jsonb`), SQLite's
//!   are TEXT. Both read them back as text (`CAST(… AS TEXT)`).
//!
//! Mailbox data is data, not configuration: nothing here touches `config_version`. Addresses
//! compare case-insensitively in ASCII only: lookups bind the ASCII-lower-cased value against the
//! `*_key` columns.

use super::mailbox::ItemOrder;

/// The [`MailboxStore`] impl of one backend, in a module of its own.
macro_rules! mailbox_store {
    (
        mod $module:ident for $store:ty, $db:ty;
        begin_write: $begin_write:literal,
        begin_snapshot: $begin_snapshot:literal,
        import_lock: $import_lock:expr,
        json_param: $json_param:literal $(,)?
    ) => {
        mod $module {
            //! [`MailboxStore`] on one backend: the queries of the parent module, expanded for it.

            use sqlx::Transaction;

            use super::super::mailbox::{
                FolderCounts, FolderRecord, ItemMove, ItemOrder, ItemPage, ItemRecord, MailboxDump, MailboxStore,
                Role, RoleAssignmentRecord, UserLookup, UserRecord,
            };
            use super::super::mailbox_rows::{item_record, kind_text, record, role, role_assignment_record, to_json};
            use super::super::{StoreError, duplicate_or};
            use super::{FOLDER_COLUMNS, ITEM_COLUMNS, ITEM_SELECT, USER_COLUMNS};

            type Store = $store;
            type Tx = Transaction<'static, $db>;

            /// Starts a mailbox write.
            const BEGIN_WRITE: &str = $begin_write;
            /// Starts a read in which every statement sees the same state.
            const BEGIN_SNAPSHOT: &str = $begin_snapshot;
            /// Run first by an import, if any.
            const IMPORT_LOCK: Option<&str> = $import_lock;
            /// Follows a JSON list parameter.
            const J: &str = $json_param;

            async fn begin_write(store: &Store) -> Result<Tx, StoreError> {
                Ok(store.pool().begin_with(BEGIN_WRITE).await?)
            }

            async fn begin_snapshot(store: &Store) -> Result<Tx, StoreError> {
                Ok(store.pool().begin_with(BEGIN_SNAPSHOT).await?)
            }

            #[async_trait::async_trait]
            impl MailboxStore for Store {
                fn mailbox_url(&self) -> String {
                    super::super::Store::url(self)
                }

                async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
                    let rows = sqlx::query(dynamic!("SELECT {USER_COLUMNS} FROM mailbox_users ORDER BY smtp_key, id"))
                        .fetch_all(self.pool())
                        .await?;
                    rows.iter().map(record).collect()
                }

                async fn user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
                    let row = sqlx::query(dynamic!("SELECT {USER_COLUMNS} FROM mailbox_users WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(self.pool())
                        .await?;
                    row.as_ref().map(record).transpose()
                }

                async fn find_users(&self, lookup: &UserLookup) -> Result<Vec<UserRecord>, StoreError> {
                    if lookup.smtp.is_none() && lookup.sip.is_none() && lookup.upn.is_none() && lookup.sid.is_none() {
                        return Ok(Vec::new());
                    }
                    let key = |value: &Option<String>| value.as_deref().map(str::to_ascii_lowercase);
                    // A NULL parameter matches nothing (`x = NULL` is never true).
                    let rows = sqlx::query(dynamic!(
                        "SELECT {USER_COLUMNS} FROM mailbox_users \
                         WHERE smtp_key = $1 OR sip_key = $2 OR upn_key = $3 OR sid_key = $4 \
                         ORDER BY smtp_key, id"
                    ))
                    .bind(key(&lookup.smtp))
                    .bind(key(&lookup.sip))
                    .bind(key(&lookup.upn))
                    .bind(key(&lookup.sid))
                    .fetch_all(self.pool())
                    .await?;
                    rows.iter().map(record).collect()
                }

                async fn insert_user(&self, user: &UserRecord, folders: &[FolderRecord]) -> Result<(), StoreError> {
                    let mut tx = begin_write(self).await?;
                    insert_user_row(&mut tx, user).await?;
                    for folder in folders {
                        insert_folder(&mut tx, folder).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn remove_user(&self, id: &str) -> Result<bool, StoreError> {
                    let mut tx = begin_write(self).await?;
                    // Items and role assignments first, then folders children-first (the cascade
                    // does the same, but explicit deletes keep the order independent of it).
                    sqlx::query("DELETE FROM mailbox_items WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                    sqlx::query("DELETE FROM role_assignments WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                    sqlx::query("DELETE FROM mailbox_folders WHERE user_id = $1 AND parent_id IS NOT NULL")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM mailbox_folders WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                    let done =
                        sqlx::query("DELETE FROM mailbox_users WHERE id = $1").bind(id).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn folders(&self, user_id: &str) -> Result<Vec<FolderRecord>, StoreError> {
                    let rows = sqlx::query(dynamic!(
                        "SELECT {FOLDER_COLUMNS} FROM mailbox_folders WHERE user_id = $1 ORDER BY position, id"
                    ))
                    .bind(user_id)
                    .fetch_all(self.pool())
                    .await?;
                    rows.iter().map(record).collect()
                }

                async fn folder(&self, id: &str) -> Result<Option<FolderRecord>, StoreError> {
                    let row = sqlx::query(dynamic!("SELECT {FOLDER_COLUMNS} FROM mailbox_folders WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(self.pool())
                        .await?;
                    row.as_ref().map(record).transpose()
                }

                async fn folder_counts(&self, folder_id: &str) -> Result<FolderCounts, StoreError> {
                    let (total, unread) = sqlx::query_as::<_, (i64, i64)>(
                        "SELECT COUNT(*), COUNT(*) FILTER (WHERE NOT is_read) FROM mailbox_items WHERE folder_id = $1",
                    )
                    .bind(folder_id)
                    .fetch_one(self.pool())
                    .await?;
                    Ok(FolderCounts { total: total.max(0).unsigned_abs(), unread: unread.max(0).unsigned_abs() })
                }

                async fn items_page(
                    &self,
                    folder_id: &str,
                    order: ItemOrder,
                    offset: u64,
                    limit: u64,
                ) -> Result<ItemPage, StoreError> {
                    let mut tx = begin_snapshot(self).await?;
                    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mailbox_items WHERE folder_id = $1")
                        .bind(folder_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    let rows = sqlx::query(super::items_page_sql(order))
                    .bind(folder_id)
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .bind(i64::try_from(offset).unwrap_or(i64::MAX))
                    .fetch_all(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    let items = rows.iter().map(item_record).collect::<Result<Vec<_>, _>>()?;
                    Ok(ItemPage { items, total: total.max(0).unsigned_abs() })
                }

                async fn user_items(&self, user_id: &str) -> Result<Vec<ItemRecord>, StoreError> {
                    let rows = sqlx::query(dynamic!(
                        "SELECT {ITEM_SELECT} FROM mailbox_items i JOIN mailbox_folders f ON f.id = i.folder_id \
                         WHERE i.user_id = $1 \
                         ORDER BY f.position, COALESCE(i.received_at, i.created_at) DESC, i.created_at DESC, \
                         i.id DESC"
                    ))
                    .bind(user_id)
                    .fetch_all(self.pool())
                    .await?;
                    rows.iter().map(item_record).collect()
                }

                async fn item(&self, id: &str) -> Result<Option<ItemRecord>, StoreError> {
                    let row = sqlx::query(dynamic!("SELECT {ITEM_SELECT} FROM mailbox_items i WHERE i.id = $1"))
                        .bind(id)
                        .fetch_optional(self.pool())
                        .await?;
                    row.as_ref().map(item_record).transpose()
                }

                async fn insert_items(&self, items: &[ItemRecord]) -> Result<(), StoreError> {
                    if items.is_empty() {
                        return Ok(());
                    }
                    let mut tx = begin_write(self).await?;
                    for item in items {
                        insert_item(&mut tx, item).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn update_items(&self, updates: &[(ItemRecord, String)]) -> Result<Vec<bool>, StoreError> {
                    let mut tx = begin_write(self).await?;
                    let mut done = Vec::with_capacity(updates.len());
                    for (item, expected) in updates {
                        // One statement: two writers of one item cannot both win.
                        let query = sqlx::query(dynamic!(
                            "UPDATE mailbox_items SET change_key = $1, folder_id = $2, item_class = $3, subject = $4, \
                                 body = $5, body_type = $6, sender = $7{J}, to_recipients = $8{J}, \
                                 cc_recipients = $9{J}, bcc_recipients = $10{J}, is_read = $11, given_name = $12, \
                                 surname = $13, display_name = $14, company_name = $15, job_title = $16, \
                                 email_addresses = $17{J}, im_addresses = $18{J}, phone_numbers = $19{J}, \
                                 modified_at = $20, sent_at = $21, received_at = $22 \
                             WHERE id = $23 AND user_id = $24 AND change_key = $25"
                        ))
                        .bind(&item.change_key)
                        .bind(&item.folder_id);
                        let result = bind_content(query, item)
                            .bind(item.modified_at)
                            .bind(item.sent_at)
                            .bind(item.received_at)
                            .bind(&item.id)
                            .bind(&item.user_id)
                            .bind(expected)
                            .execute(&mut *tx)
                            .await?;
                        done.push(result.rows_affected() > 0);
                    }
                    tx.commit().await?;
                    Ok(done)
                }

                async fn move_items(&self, moves: &[ItemMove]) -> Result<Vec<bool>, StoreError> {
                    let mut tx = begin_write(self).await?;
                    let mut done = Vec::with_capacity(moves.len());
                    for m in moves {
                        let result = sqlx::query(
                            "UPDATE mailbox_items SET folder_id = $1, change_key = $2, modified_at = $3 WHERE id = $4",
                        )
                        .bind(&m.folder_id)
                        .bind(&m.change_key)
                        .bind(m.modified_at)
                        .bind(&m.id)
                        .execute(&mut *tx)
                        .await?;
                        done.push(result.rows_affected() > 0);
                    }
                    tx.commit().await?;
                    Ok(done)
                }

                async fn delete_items(&self, ids: &[String]) -> Result<Vec<bool>, StoreError> {
                    let mut tx = begin_write(self).await?;
                    let mut done = Vec::with_capacity(ids.len());
                    for id in ids {
                        let result =
                            sqlx::query("DELETE FROM mailbox_items WHERE id = $1").bind(id).execute(&mut *tx).await?;
                        done.push(result.rows_affected() > 0);
                    }
                    tx.commit().await?;
                    Ok(done)
                }

                async fn role_assignments(&self) -> Result<Vec<RoleAssignmentRecord>, StoreError> {
                    let rows =
                        sqlx::query("SELECT role, user_id, created_at FROM role_assignments ORDER BY role, user_id")
                            .fetch_all(self.pool())
                            .await?;
                    rows.iter().map(role_assignment_record).collect()
                }

                async fn roles_of(&self, user_id: &str) -> Result<Vec<Role>, StoreError> {
                    let roles: Vec<String> =
                        sqlx::query_scalar("SELECT role FROM role_assignments WHERE user_id = $1 ORDER BY role")
                            .bind(user_id)
                            .fetch_all(self.pool())
                            .await?;
                    roles.into_iter().map(|text| role(text, user_id)).collect()
                }

                async fn insert_role_assignment(&self, record: &RoleAssignmentRecord) -> Result<(), StoreError> {
                    let mut tx = begin_write(self).await?;
                    insert_role_assignment_row(&mut tx, record).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn remove_role_assignment(&self, role: Role, user_id: &str) -> Result<bool, StoreError> {
                    let mut tx = begin_write(self).await?;
                    let result = sqlx::query("DELETE FROM role_assignments WHERE role = $1 AND user_id = $2")
                        .bind(role.as_str())
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(result.rows_affected() > 0)
                }

                async fn mailbox_dump(&self) -> Result<MailboxDump, StoreError> {
                    let mut tx = begin_snapshot(self).await?;
                    let users = sqlx::query(dynamic!("SELECT {USER_COLUMNS} FROM mailbox_users ORDER BY smtp_key, id"))
                        .fetch_all(&mut *tx)
                        .await?;
                    let folders = sqlx::query(dynamic!(
                        "SELECT {FOLDER_COLUMNS} FROM mailbox_folders ORDER BY user_id, position, id"
                    ))
                    .fetch_all(&mut *tx)
                    .await?;
                    let items = sqlx::query(dynamic!(
                        "SELECT {ITEM_SELECT} FROM mailbox_items i ORDER BY i.user_id, i.created_at, i.id"
                    ))
                    .fetch_all(&mut *tx)
                    .await?;
                    let roles =
                        sqlx::query("SELECT role, user_id, created_at FROM role_assignments ORDER BY role, user_id")
                            .fetch_all(&mut *tx)
                            .await?;
                    tx.commit().await?;
                    Ok(MailboxDump {
                        users: users.iter().map(record).collect::<Result<_, _>>()?,
                        folders: folders.iter().map(record).collect::<Result<_, _>>()?,
                        items: items.iter().map(item_record).collect::<Result<_, _>>()?,
                        role_assignments: roles.iter().map(role_assignment_record).collect::<Result<_, _>>()?,
                    })
                }

                async fn import_mailbox(&self, dump: &MailboxDump, replace: bool) -> Result<(), StoreError> {
                    let mut tx = begin_write(self).await?;
                    if let Some(lock) = IMPORT_LOCK {
                        sqlx::query(lock).execute(&mut *tx).await?;
                    }
                    let users: i64 =
                        sqlx::query_scalar("SELECT COUNT(*) FROM mailbox_users").fetch_one(&mut *tx).await?;
                    if users > 0 {
                        if !replace {
                            return Err(StoreError::NotEmpty {
                                url: super::super::Store::url(self),
                                what: super::super::mailbox::mailbox_contents(users),
                            });
                        }
                        // Children before parents, whatever the foreign-key setting.
                        sqlx::query("DELETE FROM role_assignments").execute(&mut *tx).await?;
                        sqlx::query("DELETE FROM mailbox_items").execute(&mut *tx).await?;
                        sqlx::query("DELETE FROM mailbox_folders").execute(&mut *tx).await?;
                        sqlx::query("DELETE FROM mailbox_users").execute(&mut *tx).await?;
                    }
                    for user in &dump.users {
                        insert_user_row(&mut tx, user).await?;
                    }
                    for folder in super::super::mailbox::parents_first(&dump.folders) {
                        insert_folder(&mut tx, folder).await?;
                    }
                    for item in &dump.items {
                        insert_item(&mut tx, item).await?;
                    }
                    for record in &dump.role_assignments {
                        insert_role_assignment_row(&mut tx, record).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }
            }

            async fn insert_user_row(tx: &mut Tx, user: &UserRecord) -> Result<(), StoreError> {
                sqlx::query(dynamic!("INSERT INTO mailbox_users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
                    .bind(&user.id)
                    .bind(&user.smtp)
                    .bind(&user.sip)
                    .bind(&user.upn)
                    .bind(user.sid.as_deref())
                    .bind(&user.display_name)
                    .bind(user.created_at)
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| duplicate_or(e, "mailbox user (SMTP, SIP, UPN or SID)", &user.smtp))?;
                Ok(())
            }

            async fn insert_folder(tx: &mut Tx, folder: &FolderRecord) -> Result<(), StoreError> {
                sqlx::query(dynamic!(
                    "INSERT INTO mailbox_folders ({FOLDER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                ))
                .bind(&folder.id)
                .bind(&folder.user_id)
                .bind(folder.parent_id.as_deref())
                .bind(folder.distinguished.as_deref())
                .bind(&folder.display_name)
                .bind(&folder.folder_class)
                .bind(&folder.change_key)
                .bind(folder.position)
                .execute(&mut **tx)
                .await
                .map_err(|e| duplicate_or(e, "mailbox folder", &folder.display_name))?;
                Ok(())
            }

            /// A query with this backend's arguments.
            type Query<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>;

            /// Binds an item's content, `item_class` through `phone_numbers`, in the order both the
            /// INSERT and the UPDATE name those columns.
            fn bind_content<'q>(query: Query<'q>, item: &'q ItemRecord) -> Query<'q> {
                query
                    .bind(item.item_class.as_str())
                    .bind(item.subject.as_deref())
                    .bind(item.body.as_deref())
                    .bind(item.body_type.as_str())
                    .bind(item.sender.as_ref().map(to_json))
                    .bind(to_json(&item.to))
                    .bind(to_json(&item.cc))
                    .bind(to_json(&item.bcc))
                    .bind(item.is_read)
                    .bind(item.given_name.as_deref())
                    .bind(item.surname.as_deref())
                    .bind(item.display_name.as_deref())
                    .bind(item.company_name.as_deref())
                    .bind(item.job_title.as_deref())
                    .bind(to_json(&item.email_addresses))
                    .bind(to_json(&item.im_addresses))
                    .bind(to_json(&item.phone_numbers))
            }

            async fn insert_item(tx: &mut Tx, item: &ItemRecord) -> Result<(), StoreError> {
                let query = sqlx::query(dynamic!(
                    "INSERT INTO mailbox_items ({ITEM_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10{J}, $11{J}, $12{J}, $13{J}, $14, $15, $16, \
                             $17, $18, $19, $20{J}, $21{J}, $22{J}, $23, $24, $25, $26)"
                ))
                .bind(&item.id)
                .bind(&item.change_key)
                .bind(&item.user_id)
                .bind(&item.folder_id)
                .bind(kind_text(item.kind));
                bind_content(query, item)
                    .bind(item.created_at)
                    .bind(item.modified_at)
                    .bind(item.sent_at)
                    .bind(item.received_at)
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| duplicate_or(e, "mailbox item", &item.id))?;
                Ok(())
            }

            async fn insert_role_assignment_row(tx: &mut Tx, record: &RoleAssignmentRecord) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO role_assignments (role, user_id, created_at) VALUES ($1, $2, $3)")
                    .bind(record.role.as_str())
                    .bind(&record.user_id)
                    .bind(record.created_at)
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| {
                        duplicate_or(e, "role assignment", &format!("{} for {}", record.role, record.user_id))
                    })?;
                Ok(())
            }
        }
    };
}

/// A page of a folder's items (`$1` the folder, `$2` the limit, `$3` the offset), ordered like the
/// `mailbox_items_by_folder` index, so that both backends read it in index order (no sort).
pub(super) fn items_page_sql(order: ItemOrder) -> sqlx::AssertSqlSafe<String> {
    let direction = match order {
        ItemOrder::ReceivedDescending => "DESC",
        ItemOrder::ReceivedAscending => "ASC",
    };
    dynamic!(
        "SELECT {ITEM_SELECT} FROM mailbox_items i WHERE i.folder_id = $1 \
         ORDER BY COALESCE(i.received_at, i.created_at) {direction}, i.created_at {direction}, i.id {direction} \
         LIMIT $2 OFFSET $3"
    )
}

const USER_COLUMNS: &str = "id, smtp, sip, upn, sid, display_name, created_at";
const FOLDER_COLUMNS: &str = "id, user_id, parent_id, distinguished, display_name, folder_class, change_key, position";
/// The columns written by an insert, in the order of `insert_item`'s parameters.
const ITEM_COLUMNS: &str = "id, change_key, user_id, folder_id, kind, item_class, subject, body, body_type, sender, \
     to_recipients, cc_recipients, bcc_recipients, is_read, given_name, surname, display_name, company_name, \
     job_title, email_addresses, im_addresses, phone_numbers, created_at, modified_at, sent_at, received_at";
/// The columns read back, of `mailbox_items i`: the JSON lists as text.
const ITEM_SELECT: &str = "i.id, i.change_key, i.user_id, i.folder_id, i.kind, i.item_class, i.subject, i.body, \
     i.body_type, CAST(i.sender AS TEXT) AS sender, CAST(i.to_recipients AS TEXT) AS to_recipients, \
     CAST(i.cc_recipients AS TEXT) AS cc_recipients, CAST(i.bcc_recipients AS TEXT) AS bcc_recipients, i.is_read, \
     i.given_name, i.surname, i.display_name, i.company_name, i.job_title, \
     CAST(i.email_addresses AS TEXT) AS email_addresses, CAST(i.im_addresses AS TEXT) AS im_addresses, \
     CAST(i.phone_numbers AS TEXT) AS phone_numbers, i.created_at, i.modified_at, i.sent_at, i.received_at";

mailbox_store! {
    mod sqlite for super::super::sqlite::SqliteStore, sqlx::Sqlite;
    begin_write: "BEGIN IMMEDIATE",
    begin_snapshot: "BEGIN",
    import_lock: None,
    json_param: "",
}

mailbox_store! {
    mod postgres for super::super::postgres::PgStore, sqlx::Postgres;
    begin_write: "BEGIN",
    begin_snapshot: "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    import_lock: Some("LOCK TABLE mailbox_users IN EXCLUSIVE MODE"),
    json_param: "::jsonb",
}
