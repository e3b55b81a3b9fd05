//! Re-embed the migrations when they change: `sqlx::migrate!` reads them at compile time, and
//! cargo does not know to rebuild for a new or edited `.sql` file without this.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
