//! The frame of every operation's answer: `m:<Op>Response/m:ResponseMessages`, one message per
//! requested folder or item, `ResponseClass="Success"` (the operation writes its content) or
//! `ResponseClass="Error"` with the EWS code and text.

use crate::mailbox::ews::fault::EwsError;
use crate::mailbox::ews::writer::{M_NS, T_NS, Xml};

/// Opens `m:<op>Response` and its `m:ResponseMessages`.
pub fn start(op: &str) -> Xml {
    let mut x = Xml::new();
    x.open(&format!("m:{op}Response"), &[("xmlns:m", M_NS), ("xmlns:t", T_NS)]);
    x.open("m:ResponseMessages", &[]);
    x
}

/// Closes what [`start`] opened.
pub fn end(op: &str, mut x: Xml) -> String {
    x.close("m:ResponseMessages");
    x.close(&format!("m:{op}Response"));
    x.finish()
}

/// Opens a success message (the caller adds content and closes it).
pub fn success(op: &str, x: &mut Xml) {
    x.open(&format!("m:{op}ResponseMessage"), &[("ResponseClass", "Success")]);
    x.leaf("m:ResponseCode", "NoError");
}

/// A whole error message, with an empty container element if the operation has one.
pub fn error(op: &str, x: &mut Xml, e: &EwsError, container: Option<&str>) {
    let tag = format!("m:{op}ResponseMessage");
    x.open(&tag, &[("ResponseClass", "Error")]);
    x.leaf("m:MessageText", &e.text);
    x.leaf("m:ResponseCode", e.code.as_str());
    x.leaf("m:DescriptiveLinkKey", "0");
    if let Some(c) = container {
        x.empty(c, &[]);
    }
    x.close(&tag);
}
