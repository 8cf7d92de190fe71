//! [`MailboxStore`] on the SQLite backend: the tables of `migrations/sqlite/0002_mailbox.sql`.
//! Writes take the write lock first (`BEGIN IMMEDIATE`) and never touch `config_version`; the dump
//! reads in one transaction (one snapshot of the WAL).

use sqlx::{Row as _, Sqlite, Transaction};

use super::mailbox::{
    FolderCounts, FolderRecord, ItemMove, ItemOrder, ItemPage, ItemRecord, MailboxDump, MailboxStore,
    RoleAssignmentRecord, UserLookup, UserRecord,
};
use super::mailbox_rows::{item_record, kind_text, record, to_json};
use super::sqlite::SqliteStore;
use super::{StoreError, duplicate_or};

type Tx = Transaction<'static, Sqlite>;

const USER_COLUMNS: &str = "id, smtp, sip, upn, sid, display_name, created_at";
const FOLDER_COLUMNS: &str = "id, user_id, parent_id, distinguished, display_name, folder_class, change_key, position";
const ITEM_COLUMNS: &str = "id, change_key, user_id, folder_id, kind, item_class, subject, body, body_type, sender, \
     to_recipients, cc_recipients, bcc_recipients, is_read, given_name, surname, display_name, company_name, \
     job_title, email_addresses, im_addresses, phone_numbers, created_at, modified_at, sent_at, received_at";

impl SqliteStore {
    async fn begin_mailbox_write(&self) -> Result<Tx, StoreError> {
        Ok(self.pool().begin_with("BEGIN IMMEDIATE").await?)
    }
}

#[async_trait::async_trait]
impl MailboxStore for SqliteStore {
    fn mailbox_url(&self) -> String {
        super::Store::url(self)
    }

    async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = sqlx::query(dynamic!("SELECT {USER_COLUMNS} FROM mailbox_users ORDER BY smtp COLLATE NOCASE, id"))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(record).collect()
    }

    async fn user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(dynamic!("SELECT {USER_COLUMNS} FROM mailbox_users WHERE id = ?"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(record).transpose()
    }

    async fn find_users(&self, lookup: &UserLookup) -> Result<Vec<UserRecord>, StoreError> {
        if lookup.smtp.is_none() && lookup.sip.is_none() && lookup.upn.is_none() && lookup.sid.is_none() {
            return Ok(Vec::new());
        }
        // A NULL parameter matches nothing (`x = NULL` is never true).
        let rows = sqlx::query(dynamic!(
            "SELECT {USER_COLUMNS} FROM mailbox_users \
             WHERE smtp = ?1 OR sip = ?2 OR upn = ?3 OR sid = ?4 \
             ORDER BY smtp COLLATE NOCASE, id"
        ))
        .bind(lookup.smtp.as_deref())
        .bind(lookup.sip.as_deref())
        .bind(lookup.upn.as_deref())
        .bind(lookup.sid.as_deref())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(record).collect()
    }

    async fn insert_user(&self, user: &UserRecord, folders: &[FolderRecord]) -> Result<(), StoreError> {
        let mut tx = self.begin_mailbox_write().await?;
        insert_user_row(&mut tx, user).await?;
        for folder in folders {
            insert_folder(&mut tx, folder).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn remove_user(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_mailbox_write().await?;
        // Items and role assignments first, then folders children-first (the cascade does the
        // same, but explicit deletes keep the order independent of the foreign-key setting).
        sqlx::query("DELETE FROM mailbox_items WHERE user_id = ?").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM role_assignments WHERE user_id = ?").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM mailbox_folders WHERE user_id = ? AND parent_id IS NOT NULL")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM mailbox_folders WHERE user_id = ?").bind(id).execute(&mut *tx).await?;
        let done = sqlx::query("DELETE FROM mailbox_users WHERE id = ?").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn folders(&self, user_id: &str) -> Result<Vec<FolderRecord>, StoreError> {
        let rows = sqlx::query(dynamic!(
            "SELECT {FOLDER_COLUMNS} FROM mailbox_folders WHERE user_id = ? ORDER BY position, id"
        ))
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(record).collect()
    }

    async fn folder(&self, id: &str) -> Result<Option<FolderRecord>, StoreError> {
        let row = sqlx::query(dynamic!("SELECT {FOLDER_COLUMNS} FROM mailbox_folders WHERE id = ?"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(record).transpose()
    }

    async fn folder_counts(&self, folder_id: &str) -> Result<FolderCounts, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS total, COALESCE(SUM(CASE WHEN is_read = 0 THEN 1 ELSE 0 END), 0) AS unread \
             FROM mailbox_items WHERE folder_id = ?",
        )
        .bind(folder_id)
        .fetch_one(self.pool())
        .await?;
        let total: i64 = row.try_get("total")?;
        let unread: i64 = row.try_get("unread")?;
        Ok(FolderCounts { total: total.max(0).unsigned_abs(), unread: unread.max(0).unsigned_abs() })
    }

    async fn items_page(
        &self,
        folder_id: &str,
        order: ItemOrder,
        offset: u64,
        limit: u64,
    ) -> Result<ItemPage, StoreError> {
        let direction = match order {
            ItemOrder::ReceivedDescending => "DESC",
            ItemOrder::ReceivedAscending => "ASC",
        };
        let mut tx = self.pool().begin().await?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mailbox_items WHERE folder_id = ?")
            .bind(folder_id)
            .fetch_one(&mut *tx)
            .await?;
        let rows = sqlx::query(dynamic!(
            "SELECT {ITEM_COLUMNS} FROM mailbox_items WHERE folder_id = ? \
             ORDER BY COALESCE(received_at, created_at) {direction}, created_at {direction}, id {direction} \
             LIMIT ? OFFSET ?"
        ))
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
        let columns = ITEM_COLUMNS.split(", ").map(|c| format!("i.{}", c.trim())).collect::<Vec<_>>().join(", ");
        let rows = sqlx::query(dynamic!(
            "SELECT {columns} FROM mailbox_items i JOIN mailbox_folders f ON f.id = i.folder_id \
             WHERE i.user_id = ? \
             ORDER BY f.position, COALESCE(i.received_at, i.created_at) DESC, i.created_at DESC, i.id DESC"
        ))
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(item_record).collect()
    }

    async fn item(&self, id: &str) -> Result<Option<ItemRecord>, StoreError> {
        let row = sqlx::query(dynamic!("SELECT {ITEM_COLUMNS} FROM mailbox_items WHERE id = ?"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(item_record).transpose()
    }

    async fn insert_items(&self, items: &[ItemRecord]) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_mailbox_write().await?;
        for item in items {
            insert_item(&mut tx, item).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn update_items(&self, updates: &[(ItemRecord, String)]) -> Result<Vec<bool>, StoreError> {
        let mut tx = self.begin_mailbox_write().await?;
        let mut done = Vec::with_capacity(updates.len());
        for (item, expected) in updates {
            let result = sqlx::query(
                "UPDATE mailbox_items SET change_key = ?, folder_id = ?, item_class = ?, subject = ?, body = ?, \
                     body_type = ?, sender = ?, to_recipients = ?, cc_recipients = ?, bcc_recipients = ?, \
                     is_read = ?, given_name = ?, surname = ?, display_name = ?, company_name = ?, job_title = ?, \
                     email_addresses = ?, im_addresses = ?, phone_numbers = ?, modified_at = ?, sent_at = ?, \
                     received_at = ? \
                 WHERE id = ? AND user_id = ? AND change_key = ?",
            )
            .bind(&item.change_key)
            .bind(&item.folder_id)
            .bind(&item.item_class)
            .bind(item.subject.as_deref())
            .bind(item.body.as_deref())
            .bind(&item.body_type)
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
        let mut tx = self.begin_mailbox_write().await?;
        let mut done = Vec::with_capacity(moves.len());
        for m in moves {
            let result =
                sqlx::query("UPDATE mailbox_items SET folder_id = ?, change_key = ?, modified_at = ? WHERE id = ?")
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
        let mut tx = self.begin_mailbox_write().await?;
        let mut done = Vec::with_capacity(ids.len());
        for id in ids {
            let result = sqlx::query("DELETE FROM mailbox_items WHERE id = ?").bind(id).execute(&mut *tx).await?;
            done.push(result.rows_affected() > 0);
        }
        tx.commit().await?;
        Ok(done)
    }

    async fn role_assignments(&self) -> Result<Vec<RoleAssignmentRecord>, StoreError> {
        let rows = sqlx::query("SELECT role, user_id, created_at FROM role_assignments ORDER BY role, user_id")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(record).collect()
    }

    async fn roles_of(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT role FROM role_assignments WHERE user_id = ? ORDER BY role")
            .bind(user_id)
            .fetch_all(self.pool())
            .await?)
    }

    async fn insert_role_assignment(&self, record: &RoleAssignmentRecord) -> Result<(), StoreError> {
        let mut tx = self.begin_mailbox_write().await?;
        insert_role_assignment_row(&mut tx, record).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove_role_assignment(&self, role: &str, user_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_mailbox_write().await?;
        let result = sqlx::query("DELETE FROM role_assignments WHERE role = ? AND user_id = ?")
            .bind(role)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(result.rows_affected() > 0)
    }

    async fn mailbox_dump(&self) -> Result<MailboxDump, StoreError> {
        // One read transaction: every statement sees the same state.
        let mut tx = self.pool().begin().await?;
        let users = sqlx::query(dynamic!("SELECT {USER_COLUMNS} FROM mailbox_users ORDER BY smtp COLLATE NOCASE, id"))
            .fetch_all(&mut *tx)
            .await?;
        let folders =
            sqlx::query(dynamic!("SELECT {FOLDER_COLUMNS} FROM mailbox_folders ORDER BY user_id, position, id"))
                .fetch_all(&mut *tx)
                .await?;
        let items = sqlx::query(dynamic!("SELECT {ITEM_COLUMNS} FROM mailbox_items ORDER BY user_id, created_at, id"))
            .fetch_all(&mut *tx)
            .await?;
        let roles = sqlx::query("SELECT role, user_id, created_at FROM role_assignments ORDER BY role, user_id")
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(MailboxDump {
            users: users.iter().map(record).collect::<Result<_, _>>()?,
            folders: folders.iter().map(record).collect::<Result<_, _>>()?,
            items: items.iter().map(item_record).collect::<Result<_, _>>()?,
            role_assignments: roles.iter().map(record).collect::<Result<_, _>>()?,
        })
    }

    async fn import_mailbox(&self, dump: &MailboxDump, replace: bool) -> Result<(), StoreError> {
        let mut tx = self.begin_mailbox_write().await?;
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mailbox_users").fetch_one(&mut *tx).await?;
        if users > 0 {
            if !replace {
                return Err(StoreError::NotEmpty {
                    url: super::Store::url(self),
                    what: super::mailbox::mailbox_contents(users),
                });
            }
            // Children before parents, so the order does not depend on the foreign-key setting.
            sqlx::query("DELETE FROM role_assignments").execute(&mut *tx).await?;
            sqlx::query("DELETE FROM mailbox_items").execute(&mut *tx).await?;
            sqlx::query("DELETE FROM mailbox_folders").execute(&mut *tx).await?;
            sqlx::query("DELETE FROM mailbox_users").execute(&mut *tx).await?;
        }
        for user in &dump.users {
            insert_user_row(&mut tx, user).await?;
        }
        for folder in super::mailbox::parents_first(&dump.folders) {
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
    sqlx::query(dynamic!("INSERT INTO mailbox_users ({USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"))
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
    sqlx::query(dynamic!("INSERT INTO mailbox_folders ({FOLDER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"))
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

async fn insert_item(tx: &mut Tx, item: &ItemRecord) -> Result<(), StoreError> {
    sqlx::query(dynamic!(
        "INSERT INTO mailbox_items ({ITEM_COLUMNS}) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(&item.id)
    .bind(&item.change_key)
    .bind(&item.user_id)
    .bind(&item.folder_id)
    .bind(kind_text(item.kind))
    .bind(&item.item_class)
    .bind(item.subject.as_deref())
    .bind(item.body.as_deref())
    .bind(&item.body_type)
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
    sqlx::query("INSERT INTO role_assignments (role, user_id, created_at) VALUES (?, ?, ?)")
        .bind(&record.role)
        .bind(&record.user_id)
        .bind(record.created_at)
        .execute(&mut **tx)
        .await
        .map_err(|e| duplicate_or(e, "role assignment", &format!("{} for {}", record.role, record.user_id)))?;
    Ok(())
}
