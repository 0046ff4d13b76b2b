//! Staff: who works for the merchant, in which role, over which stores.

use crate::UnixMillis;
use crate::error::StaffError;
use crate::merchant::{DepartmentId, MerchantId};

hex_id! {
    /// A staff member's id: random, never reused.
    StaffId;
}

hex_id! {
    /// A store's id (门店).
    StoreId;
}

/// What a staff member may do. Roles are ordered from the most to the least powerful.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 总部管理员: everything, including staff and tiers.
    HqAdmin,
    /// 部门: a head-office department (marketing, finance) — reports and campaigns.
    Department,
    /// 店长: runs stores — their staff, members and reports.
    StoreManager,
    /// 收银员: serves members at the till.
    Cashier,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::HqAdmin => "hq_admin",
            Role::Department => "department",
            Role::StoreManager => "store_manager",
            Role::Cashier => "cashier",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        [
            Role::HqAdmin,
            Role::Department,
            Role::StoreManager,
            Role::Cashier,
        ]
        .into_iter()
        .find(|role| role.as_str() == text)
    }
}

/// Which stores' data a staff member sees (数据范围).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    AllStores,
    /// Some stores, or one.
    Stores(Vec<StoreId>),
}

impl Scope {
    pub fn covers(&self, store: StoreId) -> bool {
        match self {
            Scope::AllStores => true,
            Scope::Stores(stores) => stores.contains(&store),
        }
    }
}

impl Scope {
    /// Whether every store this scope covers is also covered by `other`.
    pub fn within(&self, other: &Scope) -> bool {
        match (self, other) {
            (_, Scope::AllStores) => true,
            (Scope::AllStores, Scope::Stores(_)) => false,
            (Scope::Stores(mine), Scope::Stores(theirs)) => mine.iter().all(|s| theirs.contains(s)),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staff {
    pub id: StaffId,
    pub merchant: MerchantId,
    /// The head-office department they belong to, if any.
    pub department: Option<DepartmentId>,
    /// What they sign in with: lower case, unique.
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub scope: Scope,
    pub disabled: bool,
    pub created_at: UnixMillis,
}

/// A staff member to create, as entered.
#[derive(Clone, Debug)]
pub struct NewStaff {
    pub department: Option<DepartmentId>,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub scope: Scope,
    pub password: String,
}

impl Staff {
    /// Who may create whom: head office anyone; a store manager only cashiers of their own stores.
    pub fn may_create(&self, new: &NewStaff) -> bool {
        match self.role {
            Role::HqAdmin => true,
            Role::StoreManager => new.role == Role::Cashier && new.scope.within(&self.scope),
            Role::Department | Role::Cashier => false,
        }
    }

    /// Whom a staff member may see in the staff list: head office and departments everyone, a
    /// store manager the staff of their stores, a cashier themselves.
    pub fn may_see(&self, other: &Staff) -> bool {
        match self.role {
            Role::HqAdmin | Role::Department => true,
            Role::StoreManager => other.scope.within(&self.scope),
            Role::Cashier => other.id == self.id,
        }
    }
}

pub const USERNAME_LEN_MIN: usize = 3;
pub const USERNAME_LEN_MAX: usize = 32;
pub const DISPLAY_NAME_CHARS_MAX: usize = 64;
pub const PASSWORD_CHARS_MIN: usize = 8;
/// Argon2 takes any length; the cap keeps one login from costing more than it should.
pub const PASSWORD_CHARS_MAX: usize = 128;

impl NewStaff {
    /// The username as stored, or why the entry cannot be accepted.
    pub(crate) fn validate(&self) -> Result<String, StaffError> {
        let username = normalize_username(&self.username)?;
        let display_name = self.display_name.trim();
        if display_name.is_empty() || display_name.chars().count() > DISPLAY_NAME_CHARS_MAX {
            return Err(StaffError::DisplayName);
        }
        if display_name.chars().any(char::is_control) {
            return Err(StaffError::DisplayName);
        }
        let password_chars = self.password.chars().count();
        if !(PASSWORD_CHARS_MIN..=PASSWORD_CHARS_MAX).contains(&password_chars) {
            return Err(StaffError::PasswordLength);
        }
        if let Scope::Stores(stores) = &self.scope
            && stores.is_empty()
        {
            return Err(StaffError::EmptyScope);
        }
        Ok(username)
    }
}

/// Usernames compare case-insensitively: `Li.Na` and `li.na` are one person.
pub(crate) fn normalize_username(raw: &str) -> Result<String, StaffError> {
    let username = raw.trim().to_ascii_lowercase();
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b);
    if !(USERNAME_LEN_MIN..=USERNAME_LEN_MAX).contains(&username.len())
        || !username.bytes().all(allowed)
    {
        return Err(StaffError::Username);
    }
    Ok(username)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(username: &str, display_name: &str, password: &str) -> NewStaff {
        NewStaff {
            department: None,
            username: username.into(),
            display_name: display_name.into(),
            role: Role::Cashier,
            scope: Scope::Stores(vec![StoreId(1)]),
            password: password.into(),
        }
    }

    #[test]
    fn entries_are_checked_field_by_field() {
        assert_eq!(
            new(" Li.Na ", "李娜", "password1").validate(),
            Ok("li.na".into())
        );
        let cases = [
            (new("ab", "李娜", "password1"), StaffError::Username),
            (new("李娜", "李娜", "password1"), StaffError::Username),
            (new("a b c", "李娜", "password1"), StaffError::Username),
            (
                new(&"a".repeat(33), "李娜", "password1"),
                StaffError::Username,
            ),
            (new("lina", " ", "password1"), StaffError::DisplayName),
            (
                new("lina", &"娜".repeat(65), "password1"),
                StaffError::DisplayName,
            ),
            (
                new("lina", "李\u{7}娜", "password1"),
                StaffError::DisplayName,
            ),
            (new("lina", "李娜", "short"), StaffError::PasswordLength),
            (
                new("lina", "李娜", &"p".repeat(129)),
                StaffError::PasswordLength,
            ),
        ];
        for (entry, expected) in cases {
            assert_eq!(entry.validate(), Err(expected), "{entry:?}");
        }
        let mut nowhere = new("lina", "李娜", "password1");
        nowhere.scope = Scope::Stores(Vec::new());
        assert_eq!(nowhere.validate(), Err(StaffError::EmptyScope));
    }

    #[test]
    fn roles_round_trip_and_scopes_cover_their_stores() {
        for role in [
            Role::HqAdmin,
            Role::Department,
            Role::StoreManager,
            Role::Cashier,
        ] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("admin"), None);
        assert!(Scope::AllStores.covers(StoreId(9)));
        let some = Scope::Stores(vec![StoreId(1), StoreId(2)]);
        assert!(some.covers(StoreId(2)));
        assert!(!some.covers(StoreId(3)));
    }
}
