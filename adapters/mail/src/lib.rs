//! Mercado's mailers. A [`Renderer`] turns a [`Notice`] into a MIME message (plain text
//! and HTML alternatives) from the templates in `templates/mail/`; [`SmtpMailer`] sends
//! it with lettre, [`FileMailer`] writes it as an `.eml` file (the default when no SMTP
//! server is configured). [`AnyMailer`] is whichever the settings chose.
//!
//! Every message's `Message-ID` is made from the event and the recipient, and a file's
//! name likewise, so one notice is one mail wherever it goes.
//!
//! ```
//! use mercado_core::notify::MailError;
//! use mercado_mail::{AnyMailer, FileMailer, Renderer, SmtpMailer};
//!
//! /// SMTP when a server is named (nothing connects before the first mail), else files.
//! fn mailer(smtp_url: Option<&str>) -> Result<AnyMailer, MailError> {
//!     let renderer = Renderer::new("Mercado <shop@example.com>")?;
//!     Ok(match smtp_url {
//!         Some(url) => AnyMailer::Smtp(SmtpMailer::new(url, renderer)?),
//!         None => AnyMailer::File(FileMailer::new("mail", renderer)),
//!     })
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // Inside a Tokio runtime: lettre's SMTP pool spawns its tasks there (and panics when
//! // dropped outside one).
//! assert!(matches!(mailer(Some("smtp://127.0.0.1:2525")), Ok(AnyMailer::Smtp(_))));
//! # }
//! ```

use std::path::PathBuf;

use lettre::message::{Mailbox, MultiPart, header};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message as MimeMessage, Tokio1Executor};
use mercado_core::domain::is_one_line;
use mercado_core::notify::{MailError, Mailer, Notice};
use minijinja::{AutoEscape, Environment};

/// The templates, from `templates/mail/`: `<name>.subject`, `<name>.txt`, `<name>.html`.
macro_rules! templates {
    ($($name:literal),+ $(,)?) => {
        &[$(
            (concat!($name, ".subject"), include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../templates/mail/", $name, ".subject"))),
            (concat!($name, ".txt"), include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../templates/mail/", $name, ".txt"))),
            (concat!($name, ".html"), include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../templates/mail/", $name, ".html"))),
        )+]
    };
}

const TEMPLATES: &[(&str, &str)] = templates!(
    "welcome",
    "verify_email",
    "password_reset",
    "password_changed",
    "order_confirmation",
    "order_cancelled",
    "stock_low"
);

fn permanent(message: impl std::fmt::Display) -> MailError {
    MailError::new(false, message.to_string())
}

/// Renders notices into MIME messages.
#[derive(Debug)]
pub struct Renderer {
    env: Environment<'static>,
    from: Mailbox,
}

impl Renderer {
    /// A renderer sending as `from` (`Name <address>` or a bare address).
    ///
    /// # Errors
    /// [`MailError`] when `from` is not an address or a template does not parse.
    pub fn new(from: &str) -> Result<Self, MailError> {
        let mut env = Environment::new();
        // HTML parts escape what they insert; subjects and text parts are plain.
        env.set_auto_escape_callback(|name| {
            // Our own template names, all lower case.
            #[allow(clippy::case_sensitive_file_extension_comparisons)]
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        for (name, source) in TEMPLATES {
            env.add_template(name, source).map_err(permanent)?;
        }
        let from = from
            .parse()
            .map_err(|e| permanent(format!("MERCADO_MAIL_FROM: {e}")))?;
        Ok(Self { env, from })
    }

    /// The message for a notice.
    ///
    /// # Errors
    /// [`MailError`] (permanent) when a template fails or an address is unusable.
    pub fn render(&self, notice: &Notice) -> Result<MimeMessage, MailError> {
        let name = notice.message.template();
        let context = minijinja::context! {
            email => notice.to.as_str(),
            full_name => notice.full_name,
            ..minijinja::Value::from_serialize(&notice.message)
        };
        let render = |part: &str| {
            self.env
                .get_template(&format!("{name}.{part}"))
                .and_then(|t| t.render(&context))
                .map_err(permanent)
        };
        let subject = header("subject", render("subject")?.trim())?;
        let name = notice
            .full_name
            .as_deref()
            .map(|name| header("recipient's name", name))
            .transpose()?;
        let to = Mailbox::new(name, notice.to.as_str().parse().map_err(permanent)?);
        MimeMessage::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(message_id(notice)))
            .header(header::MIME_VERSION_1_0)
            .multipart(MultiPart::alternative_plain_html(
                render("txt")?,
                render("html")?,
            ))
            .map_err(permanent)
    }
}

/// A text for a header, refused when it holds a control character (stored before names
/// were checked, or from a template): a line break would start a new header, and lettre
/// panics on some of them rather than return an error.
fn header(what: &str, text: &str) -> Result<String, MailError> {
    if is_one_line(text) {
        Ok(text.to_owned())
    } else {
        Err(permanent(format!(
            "the {what} cannot go in a mail header: it contains a control character"
        )))
    }
}

/// `<event.user@mercado>`: the same for every attempt at the same notice.
fn message_id(notice: &Notice) -> String {
    format!(
        "<{}.{}@mercado>",
        notice.event_id.simple(),
        notice.user_id.as_uuid().simple()
    )
}

/// Sends over SMTP.
#[derive(Debug)]
pub struct SmtpMailer {
    renderer: Renderer,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpMailer {
    /// A mailer on an `smtp://` or `smtps://` URL, as lettre reads it (`smtp://user:pass@host:587?tls=required`).
    /// Make and drop it inside a Tokio runtime: its connection pool runs tasks there.
    ///
    /// # Errors
    /// [`MailError`] when the URL is malformed.
    pub fn new(url: &str, renderer: Renderer) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| permanent(format!("MERCADO_SMTP_URL: {e}")))?
            .build();
        Ok(Self {
            renderer,
            transport,
        })
    }
}

impl Mailer for SmtpMailer {
    async fn send(&self, notice: &Notice) -> Result<(), MailError> {
        let message = self.renderer.render(notice)?;
        self.transport
            .send(message)
            .await
            .map(drop)
            // Refused for good (5xx) is permanent; connection trouble and 4xx are not.
            .map_err(|e| MailError::caused_by(!e.is_permanent(), "sending over SMTP", e))
    }
}

/// Writes each message as `<event>.<user>.eml` in a directory.
#[derive(Debug)]
pub struct FileMailer {
    renderer: Renderer,
    dir: PathBuf,
}

impl FileMailer {
    /// A mailer writing into `dir` (created when missing).
    pub fn new(dir: impl Into<PathBuf>, renderer: Renderer) -> Self {
        Self {
            renderer,
            dir: dir.into(),
        }
    }
}

impl Mailer for FileMailer {
    async fn send(&self, notice: &Notice) -> Result<(), MailError> {
        let message = self.renderer.render(notice)?;
        let io = |e: std::io::Error| MailError::caused_by(true, self.dir.display(), e);
        tokio::fs::create_dir_all(&self.dir).await.map_err(io)?;
        let name = format!(
            "{}.{}.eml",
            notice.event_id.simple(),
            notice.user_id.as_uuid().simple()
        );
        // Written aside, then renamed: a reader never sees half a mail, and a second
        // delivery replaces the file with the same mail.
        let partial = self.dir.join(format!(".{name}.partial"));
        tokio::fs::write(&partial, message.formatted())
            .await
            .map_err(io)?;
        tokio::fs::rename(&partial, self.dir.join(name))
            .await
            .map_err(io)
    }
}

/// The mailer the settings chose.
#[derive(Debug)]
pub enum AnyMailer {
    /// SMTP.
    Smtp(SmtpMailer),
    /// `.eml` files.
    File(FileMailer),
}

impl Mailer for AnyMailer {
    async fn send(&self, notice: &Notice) -> Result<(), MailError> {
        match self {
            Self::Smtp(m) => m.send(notice).await,
            Self::File(m) => m.send(notice).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use mercado_core::domain::{Email, OrderId, ProductId, UserId};
    use mercado_core::events::EventLine;
    use mercado_core::notify::Message;
    use uuid::Uuid;

    use super::*;

    fn notice(message: Message) -> Notice {
        Notice {
            event_id: Uuid::now_v7(),
            user_id: UserId::generate(),
            to: Email::parse("ana@example.com").unwrap(),
            full_name: Some("Ana <Admin> & Co".into()),
            message,
        }
    }

    fn text(message: &MimeMessage) -> String {
        String::from_utf8(message.formatted()).unwrap()
    }

    #[test]
    fn every_template_renders_both_parts_with_a_stable_message_id() {
        let renderer = Renderer::new("Mercado <no-reply@example.com>").unwrap();
        let order_id = OrderId::generate();
        let link = "http://shop.example/verify-email?token=abc_-123";
        let messages = [
            Message::Welcome { verify_url: None },
            Message::Welcome {
                verify_url: Some(link.into()),
            },
            Message::VerifyEmail {
                verify_url: link.into(),
                valid_hours: 48,
            },
            Message::PasswordReset {
                reset_url: "http://shop.example/reset-password?token=abc_-123".into(),
                valid_minutes: 60,
            },
            Message::PasswordChanged,
            Message::OrderConfirmation {
                order_id,
                items: vec![EventLine {
                    product_id: ProductId::generate(),
                    product_name: "Tea".into(),
                    unit_price: "2.50".into(),
                    quantity: 3,
                    line_total: "7.50".into(),
                }],
                total: "7.50".into(),
            },
            Message::OrderCancelled { order_id },
            Message::StockLow {
                product_id: ProductId::generate(),
                name: "Tea".into(),
                stock: 4,
                threshold: 10,
            },
        ];
        for message in messages {
            let n = notice(message);
            let mail = text(&renderer.render(&n).unwrap());
            assert!(mail.contains("multipart/alternative"), "{mail}");
            assert!(
                mail.contains("text/plain") && mail.contains("text/html"),
                "{mail}"
            );
            assert!(mail.contains(&message_id(&n)), "{mail}");
            assert!(
                mail.lines()
                    .any(|l| l.starts_with("To: ") && l.ends_with(" <ana@example.com>")),
                "{mail}"
            );
            // The HTML part escapes the name; the text part keeps it as written.
            assert!(mail.contains("Ana &lt;Admin&gt; &amp; Co"), "{mail}");
        }
    }

    #[test]
    fn link_mails_carry_their_link_in_both_parts_and_how_long_it_works() {
        let renderer = Renderer::new("no-reply@example.com").unwrap();
        let url = "http://shop.example/reset-password?token=Ab-_9";
        let n = notice(Message::PasswordReset {
            reset_url: url.into(),
            valid_minutes: 60,
        });
        // Quoted-printable, undone: soft line breaks and `=3D`.
        let raw = text(&renderer.render(&n).unwrap())
            .replace("=\r\n", "")
            .replace("=3D", "=");
        assert!(
            raw.contains("Subject: Reset your Mercado password"),
            "{raw}"
        );
        assert!(raw.contains(&format!("\r\n{url}\r\n")), "text part: {raw}");
        // HTML-escaped inside the attribute (`/` as `&#x2f;`), as browsers read it.
        let escaped = url.replace('/', "&#x2f;");
        assert!(
            raw.contains(&format!("<a href=\"{escaped}\">")),
            "html part: {raw}"
        );
        assert!(raw.contains("within 60 minutes"), "{raw}");
        let plain = text(
            &renderer
                .render(&notice(Message::Welcome { verify_url: None }))
                .unwrap(),
        );
        assert!(
            !plain.contains("verify"),
            "a verified user's welcome has no link: {plain}"
        );
    }

    #[test]
    fn a_confirmation_carries_the_order_id_items_and_total() {
        let renderer = Renderer::new("no-reply@example.com").unwrap();
        let order_id = OrderId::generate();
        let n = notice(Message::OrderConfirmation {
            order_id,
            items: vec![EventLine {
                product_id: ProductId::generate(),
                product_name: "Green tea".into(),
                unit_price: "2.50".into(),
                quantity: 3,
                line_total: "7.50".into(),
            }],
            total: "7.50".into(),
        });
        let mail = renderer.render(&n).unwrap();
        let raw = text(&mail);
        assert!(
            raw.contains(&format!("Subject: Your order {order_id}")),
            "{raw}"
        );
        assert!(
            raw.contains("Green tea") && raw.contains("Total: 7.50"),
            "{raw}"
        );
    }

    #[test]
    fn a_control_character_in_a_header_is_a_permanent_error_not_a_panic() {
        let renderer = Renderer::new("no-reply@example.com").unwrap();
        let mut n = notice(Message::Welcome { verify_url: None });
        n.full_name = Some("a\nb".into());
        let error = renderer.render(&n).unwrap_err();
        assert!(!error.transient);
        assert!(error.message.contains("recipient's name"), "{error:?}");
        let n = notice(Message::StockLow {
            product_id: ProductId::generate(),
            name: "Tea\r\nBcc: x@example.com".into(),
            stock: 1,
            threshold: 2,
        });
        assert!(renderer.render(&n).unwrap_err().message.contains("subject"));
    }

    proptest::proptest! {
        /// One rule for sign-up and mail: every address the domain accepts renders into
        /// a message (lettre checks the address before anything goes out).
        #[test]
        fn every_address_sign_up_accepts_can_be_mailed(
            local in "[a-z0-9._%+\\-éßüøçñ\u{301}\u{308}\u{200d}名前ひらがなÅ²Ⅻ]{1,12}",
            domain in "[a-z0-9\\-äöü日本\u{301}]{1,10}\\.(com|de|日本)",
        ) {
            if let Ok(to) = Email::parse(&format!("{local}@{domain}")) {
                let renderer = Renderer::new("no-reply@example.com").unwrap();
                let mut n = notice(Message::Welcome { verify_url: None });
                n.to = to;
                proptest::prop_assert!(renderer.render(&n).is_ok(), "{}", n.to);
            }
        }
    }

    #[test]
    fn a_bad_sender_address_is_refused() {
        assert!(!Renderer::new("not an address").unwrap_err().transient);
    }

    #[tokio::test]
    async fn files_are_named_by_notice_so_a_second_delivery_is_the_same_mail() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = FileMailer::new(
            dir.path().join("mail"),
            Renderer::new("no-reply@example.com").unwrap(),
        );
        let n = notice(Message::Welcome { verify_url: None });
        mailer.send(&n).await.unwrap();
        mailer.send(&n).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path().join("mail"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let expected = format!(
            "{}.{}.eml",
            n.event_id.simple(),
            n.user_id.as_uuid().simple()
        );
        assert_eq!(files[0], expected);
    }

    #[tokio::test]
    async fn an_unreachable_smtp_server_is_a_transient_failure() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mailer = SmtpMailer::new(
            &format!("smtp://127.0.0.1:{port}"),
            Renderer::new("no-reply@example.com").unwrap(),
        )
        .unwrap();
        let err = mailer
            .send(&notice(Message::Welcome { verify_url: None }))
            .await
            .unwrap_err();
        assert!(err.transient, "{err}");
        assert!(SmtpMailer::new("gopher://x", Renderer::new("a@b.co").unwrap()).is_err());
    }
}
