//! The SOAP writer: a tiny XML builder that escapes every text and attribute value (and drops
//! characters XML 1.0 cannot carry), the envelope with its `ServerVersionInfo` header, and SOAP
//! faults in the shape Exchange sends them.

use std::fmt::Write as _;

use super::soap::SOAP_NS;

/// EWS messages namespace (`m:`).
pub const M_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
/// EWS types namespace (`t:`).
pub const T_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/types";
/// EWS errors namespace (fault details).
pub const E_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/errors";

/// What we say we are: Exchange 2016 CU (15.1.2507.6), schema `V2017_07_11`.
pub const SERVER_VERSION: (u32, u32, u32, u32, &str) = (15, 1, 2507, 6, "V2017_07_11");

/// Builds XML text.
#[derive(Debug, Default)]
pub struct Xml {
    out: String,
}

impl Xml {
    pub fn new() -> Self {
        Self::default()
    }

    /// `<name a="v"…>`.
    pub fn open(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.attrs(attrs);
        self.out.push('>');
        self
    }

    /// `</name>`.
    pub fn close(&mut self, name: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// `<name a="v"…/>`.
    pub fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.attrs(attrs);
        self.out.push_str("/>");
        self
    }

    /// `<name>text</name>`.
    pub fn leaf(&mut self, name: &str, text: &str) -> &mut Self {
        self.leaf_with(name, &[], text)
    }

    /// `<name a="v"…>text</name>`.
    pub fn leaf_with(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) -> &mut Self {
        self.open(name, attrs);
        escape_into(&mut self.out, text);
        self.close(name)
    }

    /// Appends already-built XML.
    pub fn raw(&mut self, xml: &str) -> &mut Self {
        self.out.push_str(xml);
        self
    }

    pub fn finish(self) -> String {
        self.out
    }

    fn attrs(&mut self, attrs: &[(&str, &str)]) {
        for (k, v) in attrs {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_into(&mut self.out, v);
            self.out.push('"');
        }
    }
}

/// A whole response envelope around `body` (the operation's response element).
pub fn envelope(body: &str) -> String {
    let (major, minor, build, revision, version) = SERVER_VERSION;
    let mut out = String::with_capacity(body.len() + 768);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    let _ = write!(
        out,
        "<s:Envelope xmlns:s=\"{SOAP_NS}\"><s:Header><h:ServerVersionInfo MajorVersion=\"{major}\" \
         MinorVersion=\"{minor}\" MajorBuildNumber=\"{build}\" MinorBuildNumber=\"{revision}\" Version=\"{version}\" \
         xmlns:h=\"{T_NS}\" xmlns=\"{T_NS}\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/></s:Header>\
         <s:Body xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">"
    );
    out.push_str(body);
    out.push_str("</s:Body></s:Envelope>");
    out
}

/// A SOAP fault envelope: `faultcode` `a:<code>` (or `s:<code>` for the SOAP-defined codes
/// `VersionMismatch`, `MustUnderstand`, `Client`, `Server`), `faultstring`, and a `detail` with the
/// EWS `ResponseCode` and `Message` (plus `MessageXml` naming the operation when given).
pub fn fault(code: &str, text: &str, operation: Option<&str>) -> String {
    let soap_defined = matches!(code, "VersionMismatch" | "MustUnderstand" | "Client" | "Server");
    let mut x = Xml::new();
    x.open("s:Fault", &[]);
    if soap_defined {
        x.leaf("faultcode", &format!("s:{code}"));
    } else {
        x.open("faultcode", &[("xmlns:a", T_NS)]);
        escape_into(&mut x.out, &format!("a:{code}"));
        x.close("faultcode");
    }
    x.leaf_with("faultstring", &[("xml:lang", "en-US")], text);
    x.open("detail", &[]);
    x.leaf_with("e:ResponseCode", &[("xmlns:e", E_NS)], code);
    x.leaf_with("e:Message", &[("xmlns:e", E_NS)], text);
    if let Some(op) = operation {
        x.open("t:MessageXml", &[("xmlns:t", T_NS)]);
        x.leaf_with("t:Value", &[("Name", "Operation")], op);
        x.close("t:MessageXml");
    }
    x.close("detail");
    x.close("s:Fault");
    envelope(&x.finish())
}

/// Escapes `text` for XML content or attribute values, dropping characters XML 1.0 forbids.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
}
