//! `tongka admin create`: the first HQ administrator, made on the box itself, before anyone can
//! sign in to make others.

use std::io::{BufRead, IsTerminal};

use tongka_domain::{DomainError, NewStaff, Role, Scope, StaffError, UnixMillis};

use crate::config::Config;
use crate::exit::Exit;

pub fn create(config: &Config, username: &str, display_name: Option<&str>) -> Exit {
    let password = match read_password() {
        Ok(password) => password,
        Err(message) => {
            eprintln!("{message}");
            return Exit::Config;
        }
    };
    if let Err(error) = std::fs::create_dir_all(&config.data_dir) {
        eprintln!(
            "cannot create data folder {}: {error}",
            config.data_dir.display()
        );
        return Exit::Io;
    }
    let directory =
        match tongka_domain::Directory::open(&config.directory_path(), config.session_options()) {
            Ok(directory) => directory,
            Err(error) => return report(&error),
        };
    let new = NewStaff {
        department: None,
        username: username.to_owned(),
        display_name: display_name.unwrap_or(username).to_owned(),
        role: Role::HqAdmin,
        scope: Scope::AllStores,
        password,
    };
    match directory.create_staff(directory.first_merchant(), &new, UnixMillis::now()) {
        Ok(Ok(staff)) => {
            println!(
                "已创建总部管理员 / HQ admin created: {} ({})",
                staff.username, staff.id
            );
            Exit::Success
        }
        Ok(Err(error @ StaffError::UsernameTaken(_))) => {
            eprintln!("用户名已被使用 / {error}");
            Exit::Config
        }
        Ok(Err(error)) => {
            eprintln!("输入有误 / invalid entry: {error}");
            Exit::Config
        }
        Err(error) => report(&error),
    }
}

/// From a prompt on a terminal (asked twice, not echoed), otherwise the first line of stdin.
fn read_password() -> Result<String, String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("密码 / password: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("再次输入 / again: ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("两次输入不一致 / the passwords differ".into());
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn report(error: &DomainError) -> Exit {
    match error {
        DomainError::InUse => {
            eprintln!("目录正在使用中，请先停止 tongka serve / {error}");
            Exit::InUse
        }
        _ => {
            eprintln!("{error}");
            Exit::Io
        }
    }
}
