//! The SOAP 1.1 reader: bytes in, a small namespace-resolved element tree out, or a precise
//! refusal. Limits come first: the body size is checked before any parsing, and the tree's depth,
//! element count and attributes are bounded while reading. A document type declaration is refused
//! outright (no DTD, so no entity definitions, no external entities, no expansion bombs); only
//! the five predefined entities and character references are resolved.
//!
//! It knows XML and the SOAP envelope, nothing of EWS (that is `request`).

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// The SOAP 1.1 envelope namespace.
pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The SOAP 1.2 envelope namespace (answered with a VersionMismatch fault).
pub const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";

/// Largest request body read (checked before parsing).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Deepest element nesting accepted.
pub const MAX_DEPTH: usize = 64;
/// Most elements in one document.
pub const MAX_ELEMENTS: usize = 100_000;
/// Most attributes on one element.
pub const MAX_ATTRIBUTES: usize = 64;

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SoapError {
    /// Over [`MAX_BODY_BYTES`].
    #[error("the request body is {size} bytes, more than the {limit} bytes accepted")]
    TooLarge { size: usize, limit: usize },
    /// Empty body.
    #[error("the request body is empty")]
    Empty,
    /// Not UTF-8.
    #[error("the request is not UTF-8 encoded")]
    NotUtf8,
    /// A `<!DOCTYPE …>` (DTDs, and so entity declarations, are refused).
    #[error("DTD is prohibited in this XML document (document type declarations and entity definitions are refused)")]
    DocType,
    /// `&name;` for an entity that is not one of the five predefined ones.
    #[error("reference to undeclared entity `{0}`")]
    UndeclaredEntity(String),
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("the XML is nested deeper than {MAX_DEPTH} elements")]
    TooDeep,
    /// More than [`MAX_ELEMENTS`] elements.
    #[error("the XML has more than {MAX_ELEMENTS} elements")]
    TooManyElements,
    /// More than [`MAX_ATTRIBUTES`] attributes on one element.
    #[error("an element has more than {MAX_ATTRIBUTES} attributes")]
    TooManyAttributes,
    /// A namespace prefix without a declaration.
    #[error("undeclared namespace prefix `{0}`")]
    UnknownPrefix(String),
    /// Not well-formed.
    #[error("the XML is not well-formed: {0}")]
    Malformed(String),
    /// Well-formed, but not a SOAP 1.1 envelope with a body holding one element.
    #[error("{0}")]
    NotSoap(String),
    /// A SOAP 1.2 (or other) envelope namespace.
    #[error("the envelope namespace `{0}` is not SOAP 1.1 ({SOAP_NS})")]
    VersionMismatch(String),
}

/// An element: namespace URI (empty when unbound), local name, attributes (local names; namespace
/// declarations dropped), text (all character data directly inside, concatenated), children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub ns: String,
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

/// A parsed envelope: the header blocks and the one element in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub header: Vec<Element>,
    pub body: Element,
}

impl Element {
    /// True when this is `{ns}name`.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.name == name && self.ns == ns
    }

    /// The first child `{ns}name`.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, name))
    }

    /// All children `{ns}name`.
    pub fn children_named<'a>(&'a self, ns: &'a str, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, name))
    }

    /// An attribute by local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The text, trimmed.
    pub fn trimmed(&self) -> &str {
        self.text.trim()
    }

    /// The text of child `{ns}name`, trimmed.
    pub fn child_text(&self, ns: &str, name: &str) -> Option<&str> {
        self.child(ns, name).map(Element::trimmed)
    }
}

/// Parses a SOAP 1.1 envelope from `body`.
pub fn parse_envelope(body: &[u8]) -> Result<Envelope, SoapError> {
    let root = parse_document(body)?;
    if root.name != "Envelope" {
        return Err(SoapError::NotSoap(format!("the root element is `{}`, not a SOAP Envelope", root.name)));
    }
    if root.ns != SOAP_NS {
        return Err(SoapError::VersionMismatch(root.ns));
    }
    let mut header = Vec::new();
    let mut body = None;
    for child in root.children {
        match (child.ns == SOAP_NS, child.name.as_str()) {
            (true, "Header") if body.is_none() && header.is_empty() => header = child.children,
            (true, "Body") if body.is_none() => body = Some(child),
            _ => {
                return Err(SoapError::NotSoap(format!(
                    "unexpected element `{}` in the SOAP Envelope (expected an optional Header, then Body)",
                    child.name
                )));
            }
        }
    }
    let mut body = body.ok_or_else(|| SoapError::NotSoap("the SOAP Envelope has no Body".into()))?;
    if body.children.len() != 1 {
        return Err(SoapError::NotSoap(format!(
            "the SOAP Body holds {} elements; it must hold exactly one request",
            body.children.len()
        )));
    }
    let Some(operation) = body.children.pop() else {
        return Err(SoapError::NotSoap("the SOAP Body is empty".into()));
    };
    Ok(Envelope { header, body: operation })
}

/// Parses one XML document into its root element, within the limits above.
pub fn parse_document(body: &[u8]) -> Result<Element, SoapError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(SoapError::TooLarge { size: body.len(), limit: MAX_BODY_BYTES });
    }
    let text = std::str::from_utf8(body).map_err(|_| SoapError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(SoapError::Empty);
    }
    let mut reader = NsReader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let event = reader.read_event().map_err(|e| SoapError::Malformed(e.to_string()))?;
        match event {
            Event::DocType(_) => return Err(SoapError::DocType),
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(SoapError::Malformed("content after the root element".into()));
            }
            Event::Start(start) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(SoapError::TooManyElements);
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(SoapError::TooDeep);
                }
                stack.push(element(&reader, &start)?);
            }
            Event::Empty(start) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(SoapError::TooManyElements);
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(SoapError::TooDeep);
                }
                let done = element(&reader, &start)?;
                attach(&mut stack, &mut root, done);
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err(SoapError::Malformed("an end tag without a start tag".into()));
                };
                attach(&mut stack, &mut root, done);
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                match stack.last_mut() {
                    Some(current) => current.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err(SoapError::Malformed("text outside the root element".into())),
                }
            }
            Event::CData(c) => match stack.last_mut() {
                Some(current) => current.text.push_str(&c.xml10_content()),
                None => return Err(SoapError::Malformed("CDATA outside the root element".into())),
            },
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => {
                        let name = r.xml10_content();
                        match predefined(&name) {
                            Some(c) => c,
                            None => return Err(SoapError::UndeclaredEntity(name.into_owned())),
                        }
                    }
                    Err(e) => return Err(SoapError::Malformed(e.to_string())),
                };
                match stack.last_mut() {
                    Some(current) => current.text.push(resolved),
                    None => return Err(SoapError::Malformed("a reference outside the root element".into())),
                }
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(SoapError::Malformed("the document ends inside an element".into()));
    }
    root.ok_or_else(|| SoapError::Malformed("no root element".into()))
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, done: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(done),
        None => *root = Some(done),
    }
}

fn element(reader: &NsReader<&[u8]>, start: &BytesStart<'_>) -> Result<Element, SoapError> {
    let (ns, local) = reader.resolver().resolve_element(start.name());
    let ns = match ns {
        ResolveResult::Bound(ns) => ns.as_ref().to_owned(),
        ResolveResult::Unbound => String::new(),
        ResolveResult::Unknown(prefix) => return Err(SoapError::UnknownPrefix(prefix_text(prefix))),
    };
    let name = local.as_ref().to_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| SoapError::Malformed(e.to_string()))?;
        let key = attr.key;
        let raw = key.as_ref().to_owned();
        if raw == "xmlns" || raw.starts_with("xmlns:") {
            continue;
        }
        if attrs.len() >= MAX_ATTRIBUTES {
            return Err(SoapError::TooManyAttributes);
        }
        let value = attr.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|e| match e {
            quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(_, name)) => {
                SoapError::UndeclaredEntity(name)
            }
            other => SoapError::Malformed(other.to_string()),
        })?;
        let local = key.local_name();
        attrs.push((local.as_ref().to_owned(), value.into_owned()));
    }
    Ok(Element { ns, name, attrs, text: String::new(), children: Vec::new() })
}

fn prefix_text<T: std::fmt::Debug>(prefix: T) -> String {
    format!("{prefix:?}")
}

fn predefined(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => None,
    }
}
