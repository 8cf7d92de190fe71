#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The mailbox domain: new users and their folders, ids, roles, and who may open which mailbox.

use super::*;

// ---------------------------------------------------------------------------------------------
// The domain

#[test]
fn new_users_get_checked_lower_cased_addresses_and_every_well_known_folder() {
    let (u, folders) = crate::mailbox::new_user(
        " Ken.Myer@LitwareInc.com ",
        Some("SIP:ken@litwareinc.com"),
        None,
        Some(KEN_SID),
        None,
        5,
    )
    .unwrap();
    assert_eq!(
        (u.smtp.as_str(), u.sip.as_str(), u.upn.as_str()),
        ("ken.myer@litwareinc.com", "ken@litwareinc.com", "ken.myer@litwareinc.com")
    );
    assert_eq!(u.sid.as_deref(), Some(KEN_SID.to_ascii_lowercase().as_str()));
    assert_eq!(u.display_name, "ken.myer");
    for name in [
        folder::ROOT,
        folder::CONVERSATION_HISTORY,
        folder::CONTACTS,
        folder::INBOX,
        folder::DELETED_ITEMS,
        folder::ARCHIVE_MSG_FOLDER_ROOT,
    ] {
        assert!(folders.iter().any(|f| f.distinguished.as_deref() == Some(name)), "no {name}");
    }
    // Parents come first, and every parent exists.
    for (i, f) in folders.iter().enumerate() {
        if let Some(p) = &f.parent_id {
            assert!(folders[..i].iter().any(|x| &x.id == p));
        }
    }
    let archive = folders.iter().find(|f| f.distinguished.as_deref() == Some(folder::ARCHIVE_MSG_FOLDER_ROOT)).unwrap();
    assert!(crate::mailbox::is_archive_folder(archive, &folders));
    let inbox = folders.iter().find(|f| f.distinguished.as_deref() == Some(folder::INBOX)).unwrap();
    assert!(!crate::mailbox::is_archive_folder(inbox, &folders));
    assert!(matches!(
        crate::mailbox::new_user("nobody", None, None, None, None, 1),
        Err(MailboxError::InvalidAddress(_))
    ));
    assert!(matches!(
        crate::mailbox::new_user("a@b", None, None, Some("S-1-x"), None, 1),
        Err(MailboxError::InvalidSid(_))
    ));
    assert!(matches!(
        crate::mailbox::new_user("a@b", Some("a b@c"), None, None, None, 1),
        Err(MailboxError::InvalidAddress(_))
    ));
}

#[test]
fn ids_are_opaque_base64_and_distinct() {
    use base64::Engine as _;
    let a = crate::mailbox::new_id();
    assert_ne!(a, crate::mailbox::new_id());
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(&a).unwrap().len(), 32);
    let g = crate::mailbox::new_guid();
    assert_eq!(g.len(), 36);
    assert_eq!(&g[14..15], "4");
}

#[test]
fn roles_parse_as_admins_type_them() {
    assert_eq!("userapplication".parse::<Role>().unwrap(), Role::UserApplication);
    assert_eq!(" ArchiveApplication ".parse::<Role>().unwrap(), Role::ArchiveApplication);
    assert!(matches!("Admin".parse::<Role>(), Err(MailboxError::UnknownRole(_))));
}

#[test]
fn who_may_open_which_mailbox() {
    let user = |smtp: &str| crate::mailbox::new_user(smtp, None, None, None, None, 1).unwrap().0;
    let (ken, david, app) = (user(KEN), user(DAVID), user("app@litwareinc.com"));
    let as_ken = Principal::User { partner: "Lync".into(), user: ken.clone() };
    assert_eq!(as_ken.grant_for(&ken, true), Ok(Grant::Full));
    assert!(matches!(as_ken.grant_for(&david, false), Err(AccessError::AccessDenied(_))));
    assert!(matches!(as_ken.grant_for(&david, true), Err(AccessError::ImpersonateUserDenied(_))));
    let app_with = |roles: Vec<Role>| Principal::Application { partner: "P".into(), linked: app.clone(), roles };
    assert_eq!(app_with(vec![]).grant_for(&app, false), Ok(Grant::Full));
    assert!(matches!(app_with(vec![]).grant_for(&ken, true), Err(AccessError::ImpersonateUserDenied(_))));
    assert_eq!(app_with(vec![Role::UserApplication]).grant_for(&ken, true), Ok(Grant::Full));
    assert_eq!(app_with(vec![Role::ArchiveApplication]).grant_for(&ken, true), Ok(Grant::ArchiveWrite));
    // An application works in the anchor mailbox; a user's anchor is routing only.
    let s = Session::open(app_with(vec![Role::UserApplication]), None, Some(ken.clone())).unwrap();
    assert_eq!((s.mailbox.smtp.as_str(), s.grant), (KEN, Grant::Full));
    let s = Session::open(as_ken.clone(), None, Some(david.clone())).unwrap();
    assert_eq!(s.mailbox.smtp, KEN);
    assert!(matches!(s.grant_for(&david), Err(AccessError::AccessDenied(_))));
    assert!(matches!(Session::open(as_ken, Some(david), None), Err(AccessError::ImpersonateUserDenied(_))));
}
