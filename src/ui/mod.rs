//! The UI kit of the server-rendered pages, shared by the admin and the portal and owned by
//! neither: safe HTML (`html.rs`), the page frame, notices and headers (`layout.rs`) and inline
//! SVG charts (`chart.rs`).

pub mod chart;
pub mod dashboard;
pub mod html;
pub mod layout;
